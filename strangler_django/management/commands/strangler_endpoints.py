"""``manage.py strangler_endpoints [--output FILE] [--urlconf MOD]``: the project's endpoint
inventory, every URL pattern as Django's resolver tries them, as the JSON file routes.yaml names
in ``legacy.endpoints`` (``facade.config.endpoints``). Written to stdout, or to FILE whole (a
reader never sees half a file)."""

from __future__ import annotations

import os
import tempfile
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from facade.config.endpoints import dump_inventory
from strangler_django.endpoints import inventory


class Command(BaseCommand):
    help = (
        "List every URL pattern of the project (routes.yaml templates, methods, views) as the "
        "endpoint inventory that routes.yaml's legacy.endpoints names."
    )
    # the seams' check loads STRANGLER_ROUTES, which fails while the file it names in
    # legacy.endpoints is not written yet: what this command is run to do
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", metavar="FILE", help="write here instead of stdout")
        parser.add_argument(
            "--urlconf", metavar="MOD", help="the URLconf module (default: ROOT_URLCONF)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output: str | None = options["output"]
        target = Path(output) if output else None
        if target is not None and not target.parent.is_dir():
            raise CommandError(f"--output {output}: directory {target.parent} does not exist")
        try:
            entries = inventory(options["urlconf"])
        except ImportError as exc:
            raise CommandError(f"--urlconf {options['urlconf']}: {exc}") from exc
        text = dump_inventory(entries)
        if target is None:
            self.stdout.write(text, ending="")
            return
        _write_whole(target, text)
        self.stderr.write(f"wrote {len(entries)} endpoints to {target}")


def _write_whole(target: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, 0o644)  # as a plain write would leave it, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise CommandError(f"--output {target}: {exc.strerror}") from exc
