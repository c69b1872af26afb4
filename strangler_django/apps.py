"""The Django app: ``INSTALLED_APPS += ["strangler_django"]``."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class StranglerConfig(AppConfig):
    """Seams from routes.yaml; its check validates them when Django starts."""

    name = "strangler_django"
    label = "strangler"
    verbose_name = "Strangler seams (branch by abstraction)"

    def ready(self) -> None:
        from strangler_django.checks import check_seams  # reads settings: after they are ready

        checks.register(check_seams, "strangler")
