"""Start real processes on free ports for integration tests, and stop them by pid.

A process is ``regress.processes.Process`` (here ``Running``): the regression stack and
``strangler demo`` start and stop theirs the same way."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from regress.errors import StackStartError
from regress.processes import Process, free_port
from regress.processes import start as start_process

__all__ = [
    "ROOT",
    "Running",
    "echo_upstream",
    "facade",
    "free_port",
    "monolith",
    "raw_http",
    "start",
    "write_routes",
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# a started process: .url, .port, .proc, .log(), .stop(sig=SIGTERM, timeout=15) -> exit code
Running = Process


def start(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_dir: Path,
    ready_path: str | None = "/",
    env: Mapping[str, str] | None = None,
    drop_env: Sequence[str] = (),
    timeout: float = 30,
) -> Running:
    """Start ``argv``; return once ``ready_path`` answers (any status) or the port opens."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    for variable in drop_env:
        full_env.pop(variable, None)
    try:
        running = start_process(
            name,
            argv,
            port=port,
            log_path=log_dir / f"{name}.log",
            cwd=ROOT,
            env=full_env,
            show_command=False,  # the log is the process's own output, as tests read it
        )
        try:
            running.wait_ready(ready_path, timeout=timeout, log_lines=None)
        except StackStartError:
            running.stop(signal.SIGKILL)
            raise
    except StackStartError as exc:
        raise RuntimeError(str(exc)) from None
    return running


def echo_upstream(name: str, *, log_dir: Path, extra: Sequence[str] = ()) -> Running:
    """An echo server (tests/support/echo_upstream.py); ``extra``: --delay S, --status N."""
    port = free_port()
    return start(
        name,
        [
            sys.executable,
            "-m",
            "tests.support.echo_upstream",
            "--port",
            str(port),
            "--name",
            name,
            *extra,
        ],
        port=port,
        log_dir=log_dir,
        ready_path="/_seen",  # answered at once, and not counted as a request
    )


def facade(routes: Path, *, log_dir: Path, extra: Sequence[str] = ()) -> Running:
    """``strangler serve`` on a free port. The test's environment reaches it, so
    ``STRANGLER_LOOP=asyncio`` or ``=uvloop`` (read by ``serve --loop``) runs the suite's
    facades on that event loop; ``--loop`` in ``extra`` wins over it."""
    port = free_port()
    return start(
        "facade",
        [str(BIN / "strangler"), "serve", "--routes", str(routes), "--port", str(port), *extra],
        port=port,
        log_dir=log_dir,
        ready_path="/healthz",
    )


def raw_http(port: int, data: bytes, *, timeout: float = 5) -> bytes:
    """Send raw bytes (for requests no client library would send) and read until close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def monolith(
    state_dir: Path,
    *,
    log_dir: Path,
    seed: bool = True,
    seed_args: Sequence[str] = (),
    echo: bool = True,
) -> Running:
    """The Django shop, migrated and seeded in ``state_dir``, served by gunicorn on a free port.

    ``DJANGO_SETTINGS_MODULE`` is dropped from the environment: the shop's wsgi module only
    picks its own settings when that variable is unset (pytest-django sets it for unit tests).
    """
    env = {
        "STRANGLER_LEGACY_DB": str(state_dir / "legacy.sqlite3"),
        "STRANGLER_LEGACY_MEDIA": str(state_dir / "media"),
        "STRANGLER_LEGACY_DEBUG_ECHO": "1" if echo else "0",
    }
    full_env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"} | env
    steps = [["migrate", "--noinput"], *([["seed", *seed_args]] if seed else [])]
    for step in steps:
        subprocess.run(
            [sys.executable, "-m", "legacy_monolith", *step],
            cwd=ROOT,
            env=full_env,
            check=True,
            capture_output=True,
        )
    port = free_port()
    argv = [str(BIN / "gunicorn"), "-c", "python:legacy_monolith.gunicorn_conf"]
    return start(
        "monolith",
        [*argv, "--bind", f"127.0.0.1:{port}"],
        port=port,
        log_dir=log_dir,
        env=env,
        drop_env=["DJANGO_SETTINGS_MODULE"],
        ready_path="/",
    )


def write_routes(path: Path, legacy_url: str, extra: str = "") -> Path:
    """A minimal routes.yaml in front of ``legacy_url``; ``extra`` is appended verbatim."""
    path.write_text(f"version: 1\nlegacy:\n  url: {legacy_url}\n  timeout: 5s\n{extra}")
    return path
