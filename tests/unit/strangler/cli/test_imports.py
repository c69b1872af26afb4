"""What importing the CLI (every verb, `strangler validate` among them) leaves out: the
exporters, imported by `strangler export` itself (docs/benchmarks.md, "routes.yaml load")."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT

LEFT_OUT = ("strangler.export", "strangler.export.envoy", "facade.metrics", "prometheus_client")


def test_the_cli_registers_every_verb_without_importing_the_exporters() -> None:
    probe = (
        "import sys, strangler.cli\n"
        "from strangler.cli.support import cli\n"
        "verbs = [c.name or c.callback.__name__ for c in cli.registered_commands]\n"
        "assert 'export' in verbs, verbs\n"
        f"print(','.join(m for m in {LEFT_OUT!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
