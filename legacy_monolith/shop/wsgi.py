"""WSGI entry point served by gunicorn (see legacy_monolith/gunicorn_conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_monolith.shop.settings")

application = get_wsgi_application()
