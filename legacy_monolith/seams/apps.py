from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


class SeamsConfig(AppConfig):
    """Seams: reads routes.yaml's ``seams:``; its check validates them when Django starts."""

    name = "legacy_monolith.seams"
    label = "seams"
    verbose_name = "Branch-by-abstraction seams"

    def ready(self) -> None:
        checks.register(check_seams, "strangler")


def check_seams(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check`` (and every start): the routes file loads and each seam is usable."""
    from legacy_monolith.seams.switchboard import SWITCHBOARD, WARNING, seam_problems

    return [
        checks.Warning(message, hint=hint, id=f"seams.W00{number}")
        if number >= WARNING
        else checks.Error(message, hint=hint, id=f"seams.E00{number}")
        for number, message, hint in seam_problems(SWITCHBOARD)
    ]
