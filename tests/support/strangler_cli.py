"""`strangler VERB ... --routes FILE` run as a user runs it, against a routes.yaml a test writes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.processes import BIN

STRANGLER = str(BIN / "strangler")


def run(*args: str, routes: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`strangler ARGS --routes ROUTES` (in ``cwd``), output kept, wide enough that tables do
    not wrap."""
    return subprocess.run(
        [STRANGLER, *args, "--routes", str(routes)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
        cwd=cwd,
    )


def write_routes(directory: Path, text: str) -> Path:
    """``text`` written as ``directory/routes.yaml``; its path."""
    path = directory / "routes.yaml"
    path.write_text(text)
    return path
