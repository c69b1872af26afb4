"""Starting, probing and stopping the processes a benchmark run needs.

Every process is started in its own session, so its group id is its pid: stopping it by that
pid also reaches the workers it forked (gunicorn's, nginx's, the facade's).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

LOOPBACK = "127.0.0.1"
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class BenchError(Exception):
    """A run that cannot go on: a process did not start, a target answered wrongly."""


@dataclass(frozen=True, slots=True)
class Managed:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid


def free_port() -> int:
    """A port that was free a moment ago on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Owns the processes of one run; a ``with`` block stops whatever is still running."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._running: list[Managed] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Managed:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=None if env is None else {**os.environ, **env},
                cwd=cwd,
                start_new_session=True,
            )
        proc = Managed(name, popen, log)
        self._running.append(proc)
        return proc

    def stop(self, proc: Managed, timeout: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL if it is still there after ``timeout``.

        Stop signals are held back meanwhile, so a Ctrl-C cannot leave a process half-stopped
        and forgotten: it is raised once this process is gone.
        """
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            if proc.popen.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    proc.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.popen.wait()
            if proc in self._running:
                self._running.remove(proc)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def stop_all(self) -> None:
        for proc in reversed(list(self._running)):
            self.stop(proc)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """One GET, ignoring proxy settings; an HTTP error status is returned, not raised."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(proc: Managed, url: str, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers 200, failing early (with the log) if the process dies."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise BenchError(
                f"{proc.name} exited with {proc.popen.returncode} before {url} answered:\n"
                + log_tail(proc.log)
            )
        try:
            status, _ = http_get(url, timeout=1.0)
        except OSError as exc:
            last = str(exc)
        else:
            if status == 200:
                return
            last = f"HTTP {status}"
        time.sleep(0.1)
    raise BenchError(f"{proc.name}: {url} did not answer 200 within {timeout:.0f}s ({last})")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and every live descendant.

    On a shared, loaded machine a front's requests per second measure its share of the CPU as
    much as its cost; its CPU time per request is the figure that load moves least. The tree,
    not the process group: ``serve --engine envoy`` starts Envoy in a group of its own.
    """
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                text = stat.read().decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0.0)
        todo.extend(children.get(pid, ()))
    return total
