"""`strangler serve --workers N` as an operator meets it: Ctrl-C in a terminal, a killed parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support import processes

STRANGLER = str(Path(sys.executable).parent / "strangler")


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
    deadline = time.monotonic() + 30
    while log.read_text(errors="replace").count("facade listening") < 2:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return proc, port, log


def _workers(log: Path) -> list[int]:
    return [
        int(line.rsplit("pid ", 1)[1].rstrip(")"))
        for line in log.read_text(errors="replace").splitlines()
        if "facade listening" in line
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


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
        workers = _workers(log)
        proc.kill()  # SIGKILL: the parent cannot pass anything on
        proc.wait(10)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, f"workers {workers} outlived their parent"
            time.sleep(0.1)
    finally:
        echo.stop()
