"""Django wiring for the one acl test that asks the real monolith (pytest-django)."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # As tests/unit/legacy_monolith/conftest.py: this conftest may load after pytest-django's
    # startup hook, so set the settings module and populate the app registry ourselves.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_monolith.shop.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
