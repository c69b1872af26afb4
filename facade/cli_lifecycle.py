"""`strangler` verbs: lifecycle (registered on the shared app by import)."""

from __future__ import annotations

from facade.cli_support import cli  # noqa: F401 - verbs here register with @cli.command()
