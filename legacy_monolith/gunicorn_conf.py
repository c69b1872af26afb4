"""gunicorn settings for the legacy shop.

Start with::

    gunicorn -c python:legacy_monolith.gunicorn_conf legacy_monolith.shop.wsgi:application \
        --bind 127.0.0.1:8001

Command-line flags override anything here; the STRANGLER_LEGACY_* variables set defaults.
"""

from __future__ import annotations

import os


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = [os.environ.get("STRANGLER_LEGACY_BIND", "127.0.0.1:8001")]
wsgi_app = "legacy_monolith.shop.wsgi:application"

# Threads rather than more processes: the SQLite write lock serialises writers anyway, and
# threads keep idle keep-alive connections cheap.
worker_class = "gthread"
workers = _int_env("STRANGLER_LEGACY_WORKERS", 2)
threads = _int_env("STRANGLER_LEGACY_THREADS", 8)

# Longer than a proxy's pool idle timeout, so the proxy closes idle connections first and
# never reuses one that gunicorn is closing at the same moment.
keepalive = _int_env("STRANGLER_LEGACY_KEEPALIVE", 75)
timeout = _int_env("STRANGLER_LEGACY_TIMEOUT", 60)
graceful_timeout = _int_env("STRANGLER_LEGACY_GRACEFUL_TIMEOUT", 10)

# Only the facade in front of us may claim X-Forwarded-Proto/For.
forwarded_allow_ips = os.environ.get("STRANGLER_LEGACY_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Access log off by default (the facade logs requests); "-" for stdout when debugging.
accesslog = os.environ.get("STRANGLER_LEGACY_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("STRANGLER_LEGACY_LOG_LEVEL", "info")
proc_name = "strangler-legacy-shop"

# gunicorn >= 25 opens a control socket at one fixed per-user path; several monoliths (one per
# test or demo) would fight over it, and nothing here uses gunicornc.
control_socket_disable = True
