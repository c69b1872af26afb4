"""Settings of the legacy shop monolith; everything deployment-specific comes from the env."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = REPO_ROOT / ".strangler"


def _env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name, "").strip()
    return Path(raw).expanduser().resolve() if raw else default


# The fallback key only exists so a fresh checkout runs; any shared deployment sets its own.
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "dev-only-insecure-legacy-shop-key-change-me-0123456789abcdef"
)
DEBUG = _env_flag("DJANGO_DEBUG")
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# Diagnostic endpoint that reflects what reached the monolith; never on unless asked for.
LEGACY_DEBUG_ECHO = _env_flag("STRANGLER_LEGACY_DEBUG_ECHO")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "legacy_monolith.shop",
    "legacy_monolith.catalog",
    "legacy_monolith.customers",
    "legacy_monolith.orders",
    "legacy_monolith.files",
    "legacy_monolith.account",
    # the seam switchboard, added as any Django project adds it (docs/seams.md)
    "strangler_django",
]

# routes.yaml, whose `seams:` switch the shop's seams; None (the default here): every seam runs
# its legacy implementation. The demo and the tests point it at their copy.
STRANGLER_ROUTES: str | None = os.environ.get("STRANGLER_ROUTES", "").strip() or None
# the shop's seams and the keys their call sites pass (`sticky:` may name one); `stateful`:
# a reservation and its release must take the same side, so a partial share needs sticky
STRANGLER_SEAMS = {
    "pricing": {"keys": ["customer"]},
    "inventory": {"keys": ["sku"], "stateful": True},
}

# change capture of the capabilities whose rows `strangler data sync` follows (docs/data.md):
# capability -> (model, key field, captured fields). `migrate` re-installs a capture it
# dropped; `strangler data capture CAP` (or `manage.py strangler_capture install`) installs it
STRANGLER_CAPTURE = {
    "product-catalog": (
        "catalog.Product",
        "sku",
        ["sku", "name", "unit_price_cents", "currency", "stock", "active", "updated_at"],
    ),
    "inventory": ("catalog.Product", "sku", ["sku", "stock", "reserved"]),
}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost after security so that it also compresses responses built by inner middleware.
    "legacy_monolith.shop.middleware.SelectiveGZipMiddleware",
    "legacy_monolith.shop.middleware.LegacyVersionHeaderMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "legacy_monolith.shop.urls"
WSGI_APPLICATION = "legacy_monolith.shop.wsgi.application"
APPEND_SLASH = True

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def legacy_database_url() -> str:
    """The shop's database as a SQLAlchemy URL: ``$STRANGLER_LEGACY_DATABASE_URL`` (PostgreSQL,
    ``postgresql+psycopg://user:password@host:port/name``) when set, else its SQLite file."""
    return os.environ.get("STRANGLER_LEGACY_DATABASE_URL", "").strip() or (
        f"sqlite:///{legacy_db_path()}"
    )


def _masked(url: str) -> str:
    """``url`` with its password as ``***``: error messages end up in logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{parts.netloc.rpartition('@')[2]}").geturl()


def _postgres(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        raise ValueError(
            f"STRANGLER_LEGACY_DATABASE_URL must be a postgresql URL, not {_masked(url)!r}"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


def legacy_db_path() -> Path:
    """The shop's SQLite file: ``$STRANGLER_LEGACY_DB``, else ``.strangler/legacy.sqlite3``
    (also read, without Django, by the data sync's plugins in ``legacy_monolith.data``)."""
    return _env_path("STRANGLER_LEGACY_DB", STATE_DIR / "legacy.sqlite3")


LEGACY_DB_PATH = legacy_db_path()
LEGACY_DB_PATH.parent.mkdir(parents=True, exist_ok=True)

DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(LEGACY_DB_PATH),
        "OPTIONS": {
            # gthread workers write concurrently: wait for the lock instead of failing at once,
            # and take the write lock at BEGIN so a read-then-write transaction cannot deadlock
            # on lock upgrade ("database is locked" despite the timeout).
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            # WAL lets readers proceed while one writer commits.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
if legacy_database_url().startswith("postgresql"):
    # the data sync's PostgreSQL tests run the shop on a throwaway cluster
    DATABASES["default"] = _postgres(legacy_database_url())
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LEGACY_MEDIA_ROOT = _env_path("STRANGLER_LEGACY_MEDIA", STATE_DIR / "legacy-media")
MEDIA_ROOT = str(LEGACY_MEDIA_ROOT)
MEDIA_URL = "media/"
# Raw uploads are capped here rather than by DATA_UPLOAD_MAX_MEMORY_SIZE, which they bypass.
LEGACY_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
LEGACY_MAX_BLOB_BYTES = 20 * 1024 * 1024

# 10 MB JSON bodies must fit, with headroom for whitespace.
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

STATIC_URL = "static/"
STATIC_ROOT = str(STATE_DIR / "legacy-static")

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LOGIN_URL = "/account/login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Deliberately no %(request)s: request reprs can carry cookies and auth headers.
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        # 4xx are part of the API contract, not incidents; only 5xx are worth a line.
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "django.security": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
