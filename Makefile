# riskengine: `make run` serves the app, `make test` runs every check. Both set themselves up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PORT ?= 8000
# Local runs default to debug mode (dev secret key, detailed errors). Deployments set DEBUG=0 and SECRET_KEY.
export DEBUG ?= 1
export PYTHONDONTWRITEBYTECODE := 1

CHROMIUM := /usr/bin/chromium
NGINX := /usr/sbin/nginx
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: help run serve css test test-fast install install-dev lint typecheck deploy-check pytest stop backup restore clean bench-peers

help:
	@echo "make run   - set up .venv and the embedded PostgreSQL, migrate, seed, serve on 127.0.0.1:$(PORT)"
	@echo "make test  - set up everything, then ruff, the import layers, mypy, deployment-file checks and pytest"
	@echo "make test-fast - the linters and every test but the slow, browser and fuzz ones (under 2 minutes)"
	@echo "make stop  - stop the embedded PostgreSQL"
	@echo "make backup, make restore FILE=... - pg_dump the database, restore a dump into an empty one"
	@echo "make bench-peers - riskengine against MLServer and mlflow serve, side by side (not part of make test)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Installs only when requirements.txt changed since the last install. The CPU torch wheel on
# local disk goes first, so that nothing later pulls a multi-GB CUDA build.
$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PIP) install --quiet "$$(grep -E '^torch==' requirements.txt)"
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements-dev.txt $(RUNTIME_STAMP)
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

# The local settings file: debug on, random keys; written once, never overwritten. It lets every
# README command run in a new shell (real environment variables still win).
.env:
	$(PYTHON) -m core.local_env .env

# A background-task worker (CSV imports) and the monitoring scheduler (fold, alerts, webhooks, every
# minute) run beside the web server and stop with it. `make run` also seeds the demo's 90 days of
# traffic once, in the background (day by day, so the server is ready at once and the pages fill in).
run: install .env
	$(PY) manage.py bootstrap
	$(PY) manage.py run_worker --interval 1 & worker=$$!; \
	$(PY) manage.py monitoring_scheduler --every 60 >/dev/null & scheduler=$$!; \
	$(PY) manage.py seed_demo --history & seeder=$$!; \
	trap 'kill $$worker $$scheduler $$seeder 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver --noreload 127.0.0.1:$(PORT)

# The production server without Docker: DEBUG off whatever the environment says, so it refuses to
# start without real secrets (SECRET_KEY, JWT_SIGNING_KEY in the environment or a .env you wrote);
# docs/operations.md has the rest (nginx in front, TLS, ALLOWED_HOSTS).
serve: export DEBUG := 0
serve: install
	$(PY) manage.py bootstrap
	$(PY) -m core.metrics_dir
	$(PY) manage.py run_worker --interval 1 & worker=$$!; \
	$(PY) manage.py monitoring_scheduler --every 60 >/dev/null & scheduler=$$!; \
	trap 'kill $$worker $$scheduler 2>/dev/null' EXIT INT TERM; \
	PORT=$(PORT) $(VENV)/bin/gunicorn --config gunicorn.conf.py

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: install-dev
	$(VENV)/bin/mypy

deploy-check: install-dev
	$(VENV)/bin/actionlint .github/workflows/*.yml
	$(VENV)/bin/hadolint Dockerfile deploy/nginx/Dockerfile
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null
	DEBUG=0 SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	JWT_SIGNING_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	ALLOWED_HOSTS=risk.example.com $(PY) manage.py check --deploy --fail-level WARNING

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here); the proxy tests
# start Debian's nginx on loopback with deploy/nginx/'s config.
$(CHROMIUM) $(NGINX):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium nginx

# Two workers, one per core: the fuzz test runs on one while the rest run on the other.
pytest: install-dev $(CHROMIUM) $(NGINX)
	$(VENV)/bin/pytest -n 2

# Rebuild the Tailwind CSS (django-tailwind's theme app, npm). The output is committed, so running the
# app needs no Node.
css:
	cd theme/static_src && npm ci --no-audit --no-fund && npm run build

test: lint typecheck deploy-check pytest

# The inner loop: the linters and every test but those marked slow, browser or fuzz (pyproject.toml's
# markers); `make typecheck` runs mypy alone.
test-fast: lint $(NGINX)
	$(VENV)/bin/pytest -n 2 -m "not slow and not browser and not fuzz"

stop: install
	$(PY) -m core.embedded_pg stop

# pg_dump -Fc of the database (embedded or DATABASE_URL) under RISKENGINE_DATA_DIR/backups/, and a
# restore of one into an empty database (docs/operations.md has the drill).
backup: install
	$(PY) -m core.backup create

restore: install
	@[ -n "$(FILE)" ] || { echo "usage: make restore FILE=.data/backups/riskengine-....dump" >&2; exit 2; }
	$(PY) -m core.backup restore "$(FILE)"

# The peer servers get a virtualenv of their own: their pins would clash with the app's.
PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed
$(PEERS_STAMP): requirements-peers.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --disable-pip-version-check --quiet -r requirements-peers.txt
	touch $@

bench-peers: install-dev $(PEERS_STAMP)
	PYTHONPATH=$(CURDIR) $(PEERS_VENV)/bin/python -m bench.peers prepare
	$(PY) -m bench.peers run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
