"""facade/connections.py: the cap, who is admitted, accept errors once per interval, the bytes
of an answer written before any request, and the limits' settings in routes.yaml."""

from __future__ import annotations

import errno
import json
import logging
import textwrap
from pathlib import Path

import pytest

from facade import config
from facade.connections import (
    DEFAULT_MAX_CLIENT_CONNECTIONS,
    AcceptErrors,
    Admission,
    admission,
    client_connection_cap,
    client_room,
    upstream_files,
)
from facade.errors import ConfigError
from facade.metrics import Metrics
from facade.problem import problem_bytes

ROUTES = "version: 1\nlegacy:\n  url: http://127.0.0.1:8000\n"


@pytest.mark.parametrize(
    ("configured", "open_files", "reserved", "cap"),
    [
        (None, 1024, 320, 264),  # 3/8 of the 704 left for clients: a body's file each, then 1/4
        (None, 1_048_576, 320, DEFAULT_MAX_CLIENT_CONNECTIONS),
        (None, 256, 320, 1),  # nothing left: still one, never zero
        (50, 1024, 320, 50),  # the operator's number wins
        (5000, 1024, 320, 5000),  # even above the room (never reached: serve warns)
    ],
)
def test_the_cap_is_the_setting_or_three_eighths_of_the_room_the_open_file_limit_leaves(
    configured: int | None, open_files: int, reserved: int, cap: int
) -> None:
    assert client_connection_cap(configured, open_files=open_files, reserved=reserved) == cap


def test_the_room_never_drops_below_one() -> None:
    assert client_room(open_files=100, reserved=500) == 1
    assert client_room(open_files=1024, reserved=320) == 704


@pytest.mark.parametrize(
    ("open_now", "expected"),
    [
        (0, Admission.SERVE),
        (131, Admission.SERVE),
        (132, Admission.ONE_ANSWER),  # over the cap: probes served, others 503
        (175, Admission.ONE_ANSWER),
        (176, Admission.REFUSE),  # no descriptor to spare: 503 at accept, closed at once
        (5000, Admission.REFUSE),
    ],
)
def test_admission_by_connections_open(open_now: int, expected: Admission) -> None:
    assert admission(open_now, cap=132, room=176) is expected


def test_a_cap_above_the_room_is_never_reached() -> None:
    assert admission(175, cap=5000, room=176) is Admission.SERVE
    assert admission(176, cap=5000, room=176) is Admission.REFUSE


def test_an_answer_written_before_any_request_is_whole_problem_json_and_closes() -> None:
    data = problem_bytes(503, "full", retry_after=1)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert "Content-Type: application/problem+json" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert "Connection: close" in lines
    assert "Retry-After: 1" in lines
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "full",
    }
    assert "Retry-After" not in problem_bytes(408, "slow").decode()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_accepts_are_logged_once_per_interval_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    metrics = Metrics()
    errors = AcceptErrors(metrics, interval=10, clock=clock)
    emfile = OSError(errno.EMFILE, "Too many open files")
    with caplog.at_level(logging.ERROR, logger="strangler.connections"):
        logged = [errors.failed(emfile) for _ in range(1000)]
        clock.now += 9.9
        logged.append(errors.failed(emfile))
        clock.now += 0.2
        logged.append(errors.failed(emfile))
    assert logged.count(True) == 2
    assert logged[0]
    assert logged[-1]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "1 failed accepts since the last such line" in lines[0]
    assert "1001 failed accepts since the last such line" in lines[1]  # 1000 - 1 + 1 + 1
    assert "EMFILE" in lines[0]
    sample = metrics.registry.get_sample_value("strangler_accept_errors_total", {"error": "EMFILE"})
    assert sample == 1002


def test_other_loop_errors_still_reach_asyncios_handler() -> None:
    seen: list[dict[str, object]] = []

    class Loop:
        def default_exception_handler(self, context: dict[str, object]) -> None:
            seen.append(context)

    errors = AcceptErrors(Metrics())
    errors(Loop(), {"message": "something else", "exception": ValueError()})  # type: ignore[arg-type]
    assert [c["message"] for c in seen] == ["something else"]


def test_the_connection_limits_have_defaults_and_accept_units() -> None:
    defaults = config.parse(ROUTES)[0].limits
    assert (defaults.header_timeout, defaults.keepalive_timeout) == (10.0, 75.0)
    assert defaults.max_client_connections is None
    text = ROUTES + textwrap.dedent("""\
        limits:
          header_timeout: 500ms
          keepalive_timeout: 2m
          max_client_connections: 300
        """)
    limits = config.parse(text)[0].limits
    assert (limits.header_timeout, limits.keepalive_timeout) == (0.5, 120.0)
    assert limits.max_client_connections == 300


@pytest.mark.parametrize(
    ("setting", "line"),
    [("header_timeout: 0s", 5), ("keepalive_timeout: -1s", 5), ("max_client_connections: 0", 5)],
)
def test_a_bad_connection_limit_names_the_file_and_line(setting: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse(ROUTES + f"limits:\n  {setting}\n", source="routes.yaml")
    assert str(caught.value.problems[0]).startswith(f"routes.yaml:{line}: limits.")


def test_descriptors_kept_for_upstreams_count_the_shadows_pools_too(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    assert upstream_files(config.load(path)) == 256  # the monolith's pool (default 256)
    path.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:8000', max_connections: 100}\n"
        "services:\n  a: {url: 'http://127.0.0.1:8101', max_concurrency: 10}\n"
        "  b: {url: 'http://127.0.0.1:8102', max_concurrency: 500}\n"
    )
    # pools 100 + 10 + 500; shadow calls 10 + 256 (MAX_IN_FLIGHT) and their twins 100
    assert upstream_files(config.load(path)) == 610 + 266 + 100
