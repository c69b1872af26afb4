"""The event loop the facade runs on: asyncio's own by default; uvloop when asked for.

asyncio's loop is the default (``DEFAULT_LOOP``): saturated with 1,000 connections, the facade on
uvloop answered most requests quickly but left some waiting 5 to 12 s, part of them connections
accepted seconds late, where on asyncio's loop every connection waited its turn (wrk's 10 s
timeouts: 64 and 95 on uvloop, none on asyncio; docs/benchmarks.md, "Connections at scale").
``auto`` is uvloop where it imports (Linux).

``strangler serve --loop asyncio|uvloop|auto`` picks it once, in the process that parses the
command line; each worker of ``--workers N`` is handed the resolved name, so all of them run the
same loop. ``/readyz`` (details) and the start line report the loop actually running
(``running_loop_name``), not the one asked for.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from facade.errors import FacadeError

LoopChoice = Literal["auto", "uvloop", "asyncio"]
LOOP_CHOICES: tuple[LoopChoice, ...] = ("auto", "uvloop", "asyncio")
LoopName = Literal["uvloop", "asyncio"]
DEFAULT_LOOP: LoopChoice = "asyncio"


class LoopUnavailable(FacadeError):
    """``--loop uvloop`` where uvloop cannot be imported."""


def resolve(choice: str) -> LoopName:
    """The loop ``choice`` comes to here: ``auto`` is uvloop on Linux when it imports."""
    if choice == "asyncio":
        return "asyncio"
    if choice not in LOOP_CHOICES:
        raise LoopUnavailable(f"unknown event loop {choice!r} (one of {', '.join(LOOP_CHOICES)})")
    if choice == "auto" and not sys.platform.startswith("linux"):
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError as exc:
        if choice == "uvloop":
            raise LoopUnavailable(
                f"--loop uvloop: uvloop cannot be imported ({exc}); install it "
                "(a dependency of strangler on Linux) or use --loop asyncio"
            ) from None
        return "asyncio"
    return "uvloop"


def factory(name: LoopName) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, None], name: LoopName) -> None:
    """``asyncio.run(main)`` on a new loop of the kind ``name``."""
    with asyncio.Runner(loop_factory=factory(name)) as runner:
        runner.run(main)


def running_loop_name() -> LoopName | None:
    """The kind of the loop running in this thread; None when none runs."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return "uvloop" if type(loop).__module__.split(".")[0] == "uvloop" else "asyncio"
