"""``manage.py strangler_capture install|remove|status [CAP ...]``: change capture of the
capabilities in ``settings.STRANGLER_CAPTURE`` (all when none is named), in the project's own
database (``--database``). Idempotent: installing twice changes nothing, and keeps the epoch
the relay's versions depend on. ``status`` reports, it never changes anything."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from strangler_django.capture import DjangoTx, configured
from strangler_sync import CaptureError, CaptureState, inspect, install, remove


def describe(state: CaptureState) -> str:
    """One line per capability: ``product-catalog: installed, epoch 3f2a..., 0 pending``."""
    parts: list[str] = [state.state]
    if state.epoch:
        parts.append(f"epoch {state.epoch}")
    if state.missing_triggers:
        parts.append(f"missing {', '.join(state.missing_triggers)}")
    parts.append(f"{state.pending} pending, {state.parked} parked")
    return f"{state.capability}: {', '.join(parts)}"


class Command(BaseCommand):
    help = "Install, remove or show the change capture of STRANGLER_CAPTURE's capabilities."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["install", "remove", "status"])
        parser.add_argument("capabilities", nargs="*", metavar="CAP")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument(
            "--drop-outbox",
            action="store_true",
            help="remove: also forget the epoch and the captured rows (then `data copy` again)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            specs = {cap: c.spec for cap, c in configured(options["capabilities"]).items()}
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if not specs:
            raise CommandError("STRANGLER_CAPTURE names no capability")
        using: str = options["database"]
        action: str = options["action"]
        try:
            with transaction.atomic(using=using):
                tx = DjangoTx(connections[using])
                for spec in specs.values():
                    if action == "install":
                        state = install(tx, spec)
                    elif action == "remove":
                        state = remove(tx, spec, drop_outbox=options["drop_outbox"])
                    else:
                        state = inspect(tx, spec)
                    self.stdout.write(describe(state))
        except CaptureError as exc:
            raise CommandError(str(exc)) from exc
