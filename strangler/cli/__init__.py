"""The ``strangler`` command. Exit codes: 0 done, 1 unexpected failure, 2 bad input, 3 refused.

One module per verb group; each registers its verbs on ``cli`` (strangler.cli.support) when
imported, in the order ``--help`` lists them.
"""

from __future__ import annotations

import importlib
import os
import sys

from strangler.cli.support import EXIT_FAILURE, cli, err

# the verb groups: importing one registers its verbs on `cli`, in this order
VERB_GROUPS = (
    "serve",
    "report",
    "map",
    "data",
    "demo",
    "lifecycle",
    "plan",
    "regress",
    "replay",
    "export",
    "compare",
)
for _group in VERB_GROUPS:
    importlib.import_module(f"{__name__}.{_group}")


def main() -> None:
    """Console-script entry point: maps failures to the documented exit codes."""
    try:
        cli()  # click exits 2 on usage errors; typer.Exit carries our own codes
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("STRANGLER_DEBUG"):
            raise
        err.print(
            f"strangler: unexpected failure: {type(exc).__name__}: {exc} "
            "(set STRANGLER_DEBUG=1 for the traceback)",
            markup=False,
        )
        sys.exit(EXIT_FAILURE)
