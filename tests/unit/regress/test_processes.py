"""A started process: its log, its readiness, its stop by pid (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import http.server
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from regress import processes
from regress.errors import StackStartError

# prints, says it is up, then waits; SIGTERM ends it with code 3 unless told to ignore it
SCRIPT = """\
import signal, sys, time
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
for n in range(50):
    print(f"line {n}")
print("up", flush=True)
time.sleep(60)
"""


def _start(tmp_path: Path, mode: str = "exit") -> processes.Process:
    return processes.start(
        "toy",
        [sys.executable, "-c", SCRIPT, mode],
        port=processes.free_port(),
        log_path=tmp_path / "toy.log",
        cwd=tmp_path,
        env={"PYTHONUNBUFFERED": "1"},
    )


def _wait_for(process: processes.Process, line: str) -> None:
    for _ in range(200):
        if process.log_tail(1) == line:  # the log's first lines are the command, script and all
            return
        time.sleep(0.05)
    raise AssertionError(process.log())


def test_stop_sends_sigterm_and_returns_the_exit_code_once(tmp_path: Path) -> None:
    process = _start(tmp_path)
    _wait_for(process, "up")
    assert process.exit_code is None

    assert process.stop() == 3
    assert process.stop(signal.SIGKILL) == 3  # already stopped: nothing sent again
    assert process.exit_code == 3


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    process = _start(tmp_path, "ignore")
    _wait_for(process, "up")

    assert process.stop(timeout=0.3) == -signal.SIGKILL


def test_the_log_starts_with_the_command_and_its_tail_is_the_last_lines(tmp_path: Path) -> None:
    process = _start(tmp_path)
    try:
        _wait_for(process, "up")
        assert process.log().startswith(f"$ {sys.executable} -c ")
        assert process.log_tail(2).splitlines() == ["line 49", "up"]
    finally:
        process.stop()


def test_a_process_that_exits_before_it_answers_is_reported_with_its_log(tmp_path: Path) -> None:
    process = processes.start(
        "broken",
        [sys.executable, "-c", "print('no such table'); raise SystemExit(4)"],
        port=processes.free_port(),
        log_path=tmp_path / "broken.log",
        cwd=tmp_path,
        env={},
    )

    with pytest.raises(StackStartError, match=r"broken exited with 4; its log .*broken\.log"):
        process.wait_ready("/", timeout=10)
    with pytest.raises(StackStartError, match="no such table"):
        process.wait_ready("/", timeout=10)


def test_a_process_that_never_answers_times_out_and_keeps_running(tmp_path: Path) -> None:
    process = _start(tmp_path)
    try:
        with pytest.raises(StackStartError, match=r"toy did not answer on port \d+ within 0.3s"):
            process.wait_ready("/healthz", timeout=0.3)
        assert process.exit_code is None  # the caller stops it
    finally:
        process.stop()


def test_a_command_that_cannot_run_names_it(tmp_path: Path) -> None:
    with pytest.raises(StackStartError, match="toy: cannot run /no/such/program"):
        processes.start(
            "toy",
            ["/no/such/program"],
            port=1,
            log_path=tmp_path / "toy.log",
            cwd=tmp_path,
            env={},
        )


@pytest.fixture
def server() -> Iterator[int]:
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer((processes.LOOPBACK, 0), NotFound)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_any_status_counts_as_an_answer_and_a_closed_port_does_not(server: int) -> None:
    assert processes.answers(server, "/healthz")  # 404: it is up
    assert processes.answers(server, None)
    closed = processes.free_port()
    assert not processes.answers(closed, "/healthz")
    assert not processes.answers(closed, None)
