"""A process started on a port: its output in a log file, a wait until it answers, and a stop by
its pid (SIGTERM, a wait, then SIGKILL) that returns its exit code.

The regression stack, ``strangler demo`` and the integration tests start their processes through
here, so a process is stopped the same way whoever started it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from regress.errors import StackStartError

LOOPBACK = "127.0.0.1"
LOG_TAIL = 40
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A port nothing listens on now (the OS picks it; another process may take it later)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, *, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on ``port``."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def answers(port: int, path: str | None) -> bool:
    """Whether ``path`` answers on ``port`` (any status: it is up), or the port opens when
    ``path`` is None."""
    if path is None:
        return port_open(port)
    try:
        urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True  # it answered: any status means it is up
    except (urllib.error.URLError, OSError):
        return False


def tail(path: Path, lines: int | None = LOG_TAIL) -> str:
    """The last ``lines`` lines of a log (all of it when None); "" when it cannot be read."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text if lines is None else "\n".join(text.splitlines()[-lines:])


@dataclass
class Process:
    """One started process; ``stop()`` ends it by pid and returns its exit code."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def exit_code(self) -> int | None:
        """None while it runs."""
        return self.proc.poll()

    def log(self) -> str:
        return tail(self.log_path, None)

    def log_tail(self, lines: int = LOG_TAIL) -> str:
        return tail(self.log_path, lines)

    def wait_ready(
        self, path: str | None, *, timeout: float, log_lines: int | None = LOG_TAIL
    ) -> None:
        """Until ``path`` answers (any status), or the port opens when ``path`` is None.

        Raises StackStartError, ending with the last ``log_lines`` of its log (all when None),
        if it exits first or does not answer within ``timeout`` seconds; it is not stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackStartError(
                    f"{self.name} exited with {self.proc.returncode}; its log {self.log_path}:\n"
                    f"{tail(self.log_path, log_lines)}"
                )
            if answers(self.port, path):
                return
            time.sleep(0.05)
        raise StackStartError(
            f"{self.name} did not answer on port {self.port} within {timeout:g}s; "
            f"its log {self.log_path}:\n{tail(self.log_path, log_lines)}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``sig`` (once, however often it is called), wait up to ``timeout`` seconds,
        then SIGKILL; returns the exit code (negative: the signal that ended it)."""
        if not self._stopped:
            self._stopped = True
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        return self.proc.returncode


def start(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str],
    append: bool = False,
    show_command: bool = True,
    die_with_parent: bool = False,
) -> Process:
    """Start ``argv`` with its output (stdout and stderr) in ``log_path``; does not wait for it.

    ``env`` is its whole environment. ``append`` keeps what the log holds (setup steps' output);
    ``show_command`` writes ``$ argv`` first; ``die_with_parent`` (Linux) has the kernel
    SIGTERM it if this process dies without stopping it (kill -9, a timeout).
    Raises StackStartError if ``argv`` cannot be run."""
    before_exec = _die_with_parent if die_with_parent and sys.platform == "linux" else None
    with log_path.open("ab" if append else "wb") as log:
        if show_command:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=before_exec,
            )
        except OSError as exc:
            raise StackStartError(f"{name}: cannot run {argv[0]}: {exc}") from None
    return Process(name, proc, port, log_path)


def _die_with_parent() -> None:
    # runs in the child before exec: if the parent is killed outright (kill -9, a test's
    # timeout), the kernel stops the child too instead of leaving it holding its port
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
