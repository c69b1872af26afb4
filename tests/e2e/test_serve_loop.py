"""`strangler serve --loop auto|uvloop|asyncio` and `--workers auto`: the loop asked for runs in
the process and in each worker, and says so in /readyz and the start line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.test_serve_workers import wait_listening
from tests.support import processes

STRANGLER = str(Path(sys.executable).parent / "strangler")


def readyz_loop(url: str) -> str:
    """The loop /readyz names (details are shown to loopback callers, as the test is)."""
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=10) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:  # 503 while the monolith probe has not answered
        body = exc.read()
    return str(json.loads(body)["loop"])


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_serve_runs_the_loop_asked_for_and_says_so(tmp_path: Path, loop: str) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", echo.url)
    facade = processes.facade(routes, log_dir=tmp_path, extra=["--loop", loop])
    try:
        assert readyz_loop(facade.url) == loop
        with urllib.request.urlopen(facade.url + "/x", timeout=10) as answer:
            assert json.loads(answer.read())["server"] == "legacy"
        assert f"loop {loop}, pid {facade.proc.pid})" in facade.log()
    finally:
        facade.stop()
        echo.stop()


def test_without_loop_serve_runs_asyncios_loop_though_uvloop_imports(tmp_path: Path) -> None:
    """asyncio's loop is the default: saturated, the facade on uvloop left some requests
    waiting 5-12 s (docs/benchmarks.md, "Connections at scale")."""
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", echo.url)
    port = processes.free_port()
    facade = processes.start(
        "facade",
        [STRANGLER, "serve", "--routes", str(routes), "--port", str(port)],
        port=port,
        log_dir=tmp_path,
        ready_path="/healthz",
        drop_env=["STRANGLER_LOOP"],
    )
    try:
        import uvloop  # noqa: F401  (the default is a choice, not a fallback)

        assert readyz_loop(facade.url) == "asyncio"
        assert f"loop asyncio, pid {facade.proc.pid})" in facade.log()
    finally:
        facade.stop()
        echo.stop()


def test_workers_auto_starts_one_worker_per_core_each_on_the_loop(tmp_path: Path) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", echo.url)
    cores = len(os.sched_getaffinity(0))
    facade = processes.facade(
        routes, log_dir=tmp_path, extra=["--workers", "auto", "--loop", "uvloop"]
    )
    try:
        wait_listening(facade.log, cores, timeout=60)
        log = facade.log()
        assert f"facade: {cores} workers on 127.0.0.1:{facade.port} (loop uvloop)" in log
        assert log.count("loop uvloop, pid") == cores
        assert readyz_loop(facade.url) == "uvloop"
    finally:
        facade.stop()
        echo.stop()


def test_loop_uvloop_where_it_cannot_be_imported_is_refused(tmp_path: Path) -> None:
    shadowing = tmp_path / "site" / "uvloop"
    shadowing.mkdir(parents=True)
    (shadowing / "__init__.py").write_text("raise ImportError('no uvloop on this machine')\n")
    routes = processes.write_routes(tmp_path / "routes.yaml", "http://127.0.0.1:9")
    result = subprocess.run(
        [STRANGLER, "serve", "--routes", str(routes), "--port", str(processes.free_port()),
         "--loop", "uvloop"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(shadowing.parent), "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "uvloop cannot be imported (no uvloop on this machine)" in result.stderr


def test_an_unknown_loop_or_worker_count_is_a_usage_error(tmp_path: Path) -> None:
    routes = processes.write_routes(tmp_path / "routes.yaml", "http://127.0.0.1:9")
    for args in (["--loop", "trio"], ["--workers", "0"], ["--workers", "many"]):
        result = subprocess.run(
            [STRANGLER, "serve", "--routes", str(routes), *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 2, (args, result.stderr)
