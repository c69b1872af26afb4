"""The ``strangler`` console script: SIGHUP is settled before anything else runs.

``strangler serve`` used to die on a SIGHUP in its first 0.4 s (exit 129: the default action),
while it imported its libraries and before its loop took the signal. Here, the first thing the
script does for ``serve`` is ignore SIGHUP; the facade's loop makes it "reload routes.yaml" once
it listens, and its workers inherit the ignored disposition across exec (facade/server.py). The
interpreter's own start (some tens of milliseconds) cannot be covered from Python: start the
facade under a supervisor (systemd, a container runtime) that does not send it hangups.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    # any "serve" word: a false positive (a file named serve) only ignores hangups
    if "serve" in sys.argv[1:]:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # imported after the signal on purpose: importing the CLI takes most of a second
    from strangler.cli import main as cli_main

    cli_main()
