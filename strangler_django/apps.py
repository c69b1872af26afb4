"""The Django app: ``INSTALLED_APPS += ["strangler_django"]``."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate


class StranglerConfig(AppConfig):
    """Seams from routes.yaml; its check validates them when Django starts. Change capture
    (``STRANGLER_CAPTURE``) is re-installed after ``migrate`` where a migration dropped it."""

    name = "strangler_django"
    label = "strangler"
    verbose_name = "Strangler seams (branch by abstraction)"

    def ready(self) -> None:
        # both read settings: imported once they are ready
        from strangler_django.checks import check_capture, check_seams
        from strangler_django.reinstall import reinstall_capture

        checks.register(check_seams, "strangler")
        checks.register(check_capture, "strangler")
        # no sender: this app has no models, so Django sends it no post_migrate of its own
        post_migrate.connect(reinstall_capture, dispatch_uid="strangler_reinstall_capture")
