"""`strangler serve --workers N`: workers share the port, a dead one is replaced, a crash loop
stops the facade, Ctrl-C in a terminal drains them, and none outlives a killed parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.support import processes

STRANGLER = str(Path(sys.executable).parent / "strangler")


def listening_pids(log: str) -> set[int]:
    """The pid of every worker that said it listens, from a facade's log."""
    return {
        int(line.rsplit("pid ", 1)[1].rstrip(")"))
        for line in log.splitlines()
        if "facade listening" in line
    }


def wait_listening(log: Callable[[], str], count: int, timeout: float = 20) -> set[int]:
    """Wait until ``count`` workers listen (``/healthz`` answers as soon as the first does)."""
    deadline = time.monotonic() + timeout
    while len(pids := listening_pids(log())) < count:
        assert time.monotonic() < deadline, log()
        time.sleep(0.1)
    return pids


def alive(pid: int) -> bool:
    """True while ``pid`` exists (a zombie counts: its parent reaps it within half a second)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_with_two_workers_shares_the_port(tmp_path: Path) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", echo.url)
    facade = processes.facade(routes, log_dir=tmp_path, extra=["--workers", "2"])
    try:
        wait_listening(facade.log, 2)
        for _ in range(40):
            with urllib.request.urlopen(facade.url + "/x", timeout=10) as response:
                assert json.loads(response.read())["server"] == "legacy"
        assert facade.stop() == 0
        assert facade.log().count("facade stopped") == 2
    finally:
        facade.stop()
        echo.stop()


def test_a_worker_that_dies_is_replaced_and_the_others_keep_serving(tmp_path: Path) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", echo.url)
    facade = processes.facade(routes, log_dir=tmp_path, extra=["--workers", "2"])
    try:
        first = wait_listening(facade.log, 2)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        # connections already queued on the victim's socket die with it (SO_REUSEPORT keeps
        # one accept queue per worker); once it is gone, the survivor takes every new one
        deadline = time.monotonic() + 10
        while alive(victim):
            assert time.monotonic() < deadline, facade.log()
            time.sleep(0.05)
        for _ in range(10):
            with urllib.request.urlopen(facade.url + "/x", timeout=10) as response:
                assert response.status == 200
        wait_listening(facade.log, 3)  # the replacement
        assert f"(pid {victim}) exited with code -9" in facade.log()
        assert facade.stop() == 0
        # the replacement drained too: three listened, two stopped (the killed one could not)
        assert facade.log().count("facade stopped") == 2
    finally:
        facade.stop()
        echo.stop()


def test_workers_that_die_at_start_stop_the_facade_with_an_error(tmp_path: Path) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", echo.url)
    try:
        # the port is the echo upstream's own: every worker fails to listen
        result = subprocess.run(
            [STRANGLER, "serve", "--routes", str(routes), "--workers", "2",
             "--port", str(echo.port)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "workers keep dying at start" in result.stderr
    finally:
        echo.stop()


def _serve(tmp_path: Path, upstream: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    routes = processes.write_routes(tmp_path / "routes.yaml", upstream)
    port = processes.free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        # a session of its own, like a shell's foreground job: killpg reaches what a tty would
        proc = subprocess.Popen(
            [STRANGLER, "serve", "--routes", str(routes), "--port", str(port), "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_listening(lambda: log.read_text(errors="replace"), 2, timeout=30)
    return proc, port, log


def test_ctrl_c_in_a_terminal_drains_the_workers_once(tmp_path: Path) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    try:
        proc, port, log = _serve(tmp_path, echo.url)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/x", timeout=10) as answer:
            assert answer.status == 200
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does to the job
        assert proc.wait(30) == 0
        text = log.read_text(errors="replace")
        # each worker heard one SIGINT (from the parent), so each drained
        assert text.count("facade stopped") == 2, text
        assert "without draining" not in text
    finally:
        echo.stop()


def test_workers_do_not_outlive_a_killed_parent(tmp_path: Path) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    try:
        proc, _, log = _serve(tmp_path, echo.url)
        workers = listening_pids(log.read_text(errors="replace"))
        proc.kill()  # SIGKILL: the parent cannot pass anything on
        proc.wait(10)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in workers):
            assert time.monotonic() < deadline, f"workers {workers} outlived their parent"
            time.sleep(0.1)
    finally:
        echo.stop()
