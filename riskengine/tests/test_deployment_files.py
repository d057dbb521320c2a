"""Static checks of the deployment files, which cannot run here (no Docker engine, no GitHub)."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_db_api_and_worker():
    services = _compose()["services"]
    assert set(services) == {"proxy", "db", "api", "worker", "scheduler", "prometheus"}
    assert services["prometheus"]["profiles"] == ["monitoring"]  # only with --profile monitoring


def test_compose_runs_production_settings_and_prometheus_scrapes_with_the_token():
    compose = _compose()
    for name in ("api", "worker", "scheduler"):
        environment = compose["services"][name]["environment"]
        assert environment["DEBUG"] == "0" and environment["RISKENGINE_ENV_FILE"] == "none"
    prometheus = compose["services"]["prometheus"]
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "METRICS_TOKEN" in prometheus["environment"]
    job = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics" and job["authorization"]["type"] == "Bearer"
    assert job["authorization"]["credentials_file"] in " ".join(prometheus["command"])
    assert job["static_configs"][0]["targets"] == ["api:8000"]


def test_compose_db_uses_pgvector_with_healthcheck_and_named_volume():
    compose = _compose()
    db = compose["services"]["db"]
    assert db["image"] == "pgvector/pgvector:pg16"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume, mount = db["volumes"][0].split(":", 1)
    assert mount == "/var/lib/postgresql/data"
    assert volume in compose["volumes"]
    for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert f"${{{key}" in db["environment"][key]


def test_compose_app_services_wait_for_db_and_build_database_url_from_env():
    services = _compose()["services"]
    for name in ("api", "worker"):
        service = services[name]
        assert service["build"] == "."
        assert service["env_file"] == ".env"
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        url = service["environment"]["DATABASE_URL"]
        assert re.fullmatch(
            r"postgres://\$\{POSTGRES_USER[^}]*\}:\$\{POSTGRES_PASSWORD[^}]*\}@db:5432/\$\{POSTGRES_DB[^}]*\}", url
        ), url


def test_compose_api_migrates_then_runs_gunicorn_and_worker_runs_db_worker():
    services = _compose()["services"]
    api_command = " ".join(services["api"]["command"])
    assert api_command.index("bootstrap") < api_command.index("gunicorn")  # bootstrap migrates first
    health = services["api"]["healthcheck"]
    probe = re.search(r"urlopen\('http://127.0.0.1:8000/healthz', timeout=(\d+)\)", " ".join(health["test"]))
    assert probe and int(probe.group(1)) < int(health["timeout"].rstrip("s"))  # the probe gives up first
    assert services["worker"]["command"] == ["python", "manage.py", "run_worker"]
    assert services["scheduler"]["command"] == ["python", "manage.py", "monitoring_scheduler", "--every", "60"]
    assert services["scheduler"]["depends_on"]["api"]["condition"] == "service_healthy"  # after migrations


def test_dockerfile_is_multistage_slim_cpu_torch_nonroot_with_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.11-slim") == 2
    assert "download.pytorch.org/whl/cpu" in dockerfile
    assert '"torch==2.13.0"' in dockerfile
    assert "collectstatic" in dockerfile
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.MULTILINE)
    assert "HEALTHCHECK" in dockerfile
    assert "gunicorn" in dockerfile


def test_env_example_documents_every_setting_read_by_the_code():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    used: set[str] = set()
    from riskengine.tests.test_house_rules import _project_modules

    for path in [*_project_modules(), ROOT / "docker-compose.yml"]:
        if path.parts[len(ROOT.parts)] == "bench":
            continue  # the benchmarks' own knobs are their command-line options
        text = path.read_text()
        used |= set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]+)\"", text))
        used |= set(re.findall(r"environ\.get\(\s*\"([A-Z][A-Z0-9_]+)\"", text))
        used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", text))
    assert used, "found no settings at all"
    assert used <= documented, f"undocumented: {sorted(used - documented)}"


def test_ci_workflow_runs_lint_tests_on_pgvector_and_builds_the_image():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["test"]["services"]["postgres"]["image"] == "pgvector/pgvector:pg16"
    steps = " ".join(str(step.get("run", "")) for job in jobs.values() for step in job["steps"])
    for command in ("ruff check", "ruff format --check", "mypy", "pytest", "migrate"):
        assert command in steps
    assert any("build-push-action" in str(step.get("uses", "")) for step in jobs["image"]["steps"])


def test_the_image_is_pushed_on_main_and_tags_and_only_built_for_pull_requests():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key "on" as true
    assert triggers["push"]["branches"] == ["main"] and triggers["push"]["tags"] == ["v*"]
    steps = {step.get("name", step.get("uses")): step for step in workflow["jobs"]["image"]["steps"]}
    assert steps["Image tags"]["uses"].startswith("docker/metadata-action@")
    build = steps["Build (and push, except for pull requests)"]["with"]
    assert build["push"] == "${{ github.event_name != 'pull_request' }}"
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"
    assert workflow["jobs"]["image"]["permissions"]["packages"] == "write"
    migrations = next(s for s in workflow["jobs"]["test"]["steps"] if s.get("name") == "Migrations")["run"]
    assert migrations.index("migrate --noinput") < migrations.index("makemigrations --check")


def test_the_model_release_workflow_trains_validates_and_shadows_but_never_promotes():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "model-release.yml").read_text())
    inputs = workflow[True]["workflow_dispatch"]["inputs"]
    assert {"csv", "target", "positive", "name"} <= set(inputs)
    job = workflow["jobs"]["release"]
    assert job["env"]["DATABASE_URL"] == "${{ secrets.DATABASE_URL }}"
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    order = [runs.index(command) for command in ("train_model", "model_validate", "model_shadow")]
    assert order == sorted(order)
    assert "GITHUB_STEP_SUMMARY" in runs and "--markdown" in runs
    assert "model_promote" not in runs and "model_canary" not in runs


def test_only_nginx_is_published_and_gunicorn_sits_on_an_internal_network():
    compose = _compose()
    services = compose["services"]
    assert compose["networks"]["backend"]["internal"] is True
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy", "prometheus"}
    for name in ("api", "db", "worker"):
        assert services[name]["networks"] == ["backend"], name
    assert services["scheduler"]["networks"] == ["backend", "egress"]  # webhooks go out
    assert services["proxy"]["build"] == "deploy/nginx" and "backend" in services["proxy"]["networks"]
    assert services["api"]["environment"]["TRUSTED_PROXIES"] == "1"  # nginx sets X-Forwarded-For
    static_volume = next(v for v in services["api"]["volumes"] if v.endswith("/data/staticfiles"))
    assert static_volume.split(":")[0] + ":/srv/static:ro" in services["proxy"]["volumes"]


def test_the_proxy_image_fills_every_template_variable_and_ci_pushes_it():
    dockerfile = (ROOT / "deploy" / "nginx" / "Dockerfile").read_text()
    template = (ROOT / "deploy" / "nginx" / "riskengine.conf.template").read_text()
    assert set(re.findall(r"\$\{(NGINX_[A-Z_]+)\}", template)) == set(re.findall(r"(NGINX_[A-Z_]+)=", dockerfile))
    assert "/etc/nginx/templates/" in dockerfile and re.search(r"^FROM nginx:[\d.]+-alpine$", dockerfile, re.M)
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = {step.get("name", step.get("uses")): step for step in workflow["jobs"]["image"]["steps"]}
    build = steps["Build the proxy image (and push, except for pull requests)"]["with"]
    assert build["context"] == "deploy/nginx" and build["tags"] == "${{ steps.proxy_meta.outputs.tags }}"
    assert build["push"] == "${{ github.event_name != 'pull_request' }}"
    assert steps["Proxy image tags"]["with"]["images"] == "ghcr.io/${{ github.repository }}-nginx"
