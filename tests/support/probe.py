"""Small probes the security tests share: wait for a condition, read a metric, count what an
upstream saw, check a problem+json answer."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Protocol

from tests.support.processes import Running

PROBLEM = "application/problem+json"


def wait_until(
    condition: Callable[[], bool], what: str, *, timeout: float = 30, interval: float = 0.05
) -> None:
    """Poll ``condition`` every ``interval`` seconds until it holds; fail naming ``what``
    after ``timeout`` seconds (a condition that runs a process wants a longer interval)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: a bounded pause between polls
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        pause.wait(interval)


def get_body(url: str, *, timeout: float = 5) -> bytes:
    """The body of ``GET url``, whatever its status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:
        with error:
            return error.read()


def metric(facade: Running, sample: str) -> float:
    """One unlabelled sample from the facade's /metrics (served to loopback, even at the cap);
    0 when it is not there yet."""
    for line in get_body(facade.url + "/metrics").decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def seen(upstream: Running) -> int:
    """How many requests an echo upstream has received (its ``/_seen``)."""
    count: int = json.loads(get_body(upstream.url + "/_seen"))["count"]
    return count


class Answer(Protocol):
    status: int
    body: bytes

    def header(self, name: str) -> str | None: ...


def assert_problem(reply: Answer, status: int) -> dict[str, object]:
    """``reply`` is an RFC 9457 problem+json answer with ``status`` and a detail."""
    assert reply.status == status, reply.body[:300]
    assert reply.header("Content-Type") == PROBLEM
    problem: dict[str, object] = json.loads(reply.body)
    assert problem["status"] == status
    assert problem["detail"]
    return problem
