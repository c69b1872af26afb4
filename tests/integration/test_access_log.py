"""The JSON access log, in both engines: `strangler serve --access-log json` and Envoy from the
wheel running `strangler export envoy --access-log json`. The same requests give lines with the
same keys and the same capability, mode, served_by and status; a secret in the query is
redacted; the request and trace ids are the ones the upstream received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from facade.access_log import FIELDS
from tests.support import processes, proxies
from tests.support.observed_routes import INSIDE, OUTSIDE, routes_for
from tests.support.probe import wait_until

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


@dataclass
class Stack:
    url: str
    log: Path
    legacy: processes.Running


def _upstreams(logs: Path) -> list[processes.Running]:
    return [processes.echo_upstream(name, log_dir=logs) for name in ("legacy", "svc")]


def _routes(work: Path, legacy: processes.Running, svc: processes.Running) -> Path:
    routes = work / "routes.yaml"
    dead = f"http://127.0.0.1:{processes.free_port()}"  # nothing listens there
    routes.write_text(routes_for(legacy.url, svc.url, dead))
    return routes


@pytest.fixture(scope="module", params=["python", "envoy"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    engine = request.param
    envoy = proxies.envoy_binary() if engine == "envoy" else ""
    logs = tmp_path_factory.mktemp(f"{engine}-logs")
    started = _upstreams(logs)
    legacy, svc = started
    try:
        routes = _routes(tmp_path_factory.mktemp(engine), legacy, svc)
        if engine == "python":
            facade = processes.facade(routes, log_dir=logs, extra=("--access-log", "json"))
            started.append(facade)
            yield Stack(facade.url, logs / "facade.log", legacy)
            return
        port, admin = processes.free_port(), processes.free_port()
        out = routes.parent / "out"
        done = proxies.export(
            "envoy",
            routes,
            out,
            f"--listen=127.0.0.1:{port}",
            f"--admin-port={admin}",
            "--access-log=json",
        )
        assert done.returncode == 0, done.stderr
        argv = [envoy, "-c", str(out / "envoy.yaml"), "--disable-hot-restart"]
        # Envoy writes its access log every 10 s unless told otherwise
        argv += ["--concurrency", "1", "-l", "warning", "--file-flush-interval-msec", "50"]
        proxy = proxies.start("envoy", argv, port=port, log_dir=logs)
        try:
            yield Stack(proxy.url, proxy.log, legacy)
        finally:
            proxy.stop()
    finally:
        for running in started:
            running.stop()


def lines(log: Path) -> list[dict[str, Any]]:
    """Every JSON line of a log (the facade's stderr and Envoy's warnings share the file)."""
    found = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def line_for(stack: Stack, path: str) -> dict[str, Any]:
    def logged() -> bool:
        return any(entry["path"] == path for entry in lines(stack.log))

    wait_until(logged, f"the access log has {path}")
    return next(entry for entry in lines(stack.log) if entry["path"] == path)


async def ask(
    stack: Stack, method: str, target: str, **headers: str
) -> tuple[int, bytes, dict[str, str]]:
    """Status, body, and the headers the upstream received (the echo's report, when JSON)."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, stack.url + target, headers=headers) as answer,
    ):
        body = await answer.read()
        received: dict[str, str] = {}
        if answer.content_type == "application/json":
            report = json.loads(body)
            received = {name.lower(): value for name, value in report.get("headers", [])}
        return answer.status, body, received


# (method, target, headers, expected fields): each target is unique, to find its line
CASES = [
    (
        "GET",
        "/elsewhere?token=s3cret-t0ken&x=1",
        {},
        {"capability": None, "mode": "legacy", "served_by": "legacy", "status": 200},
    ),
    (
        "GET",
        "/moved/1",
        {},
        {"capability": "moved", "mode": "extracted", "served_by": "svc", "status": 200},
    ),
    (
        "GET",
        "/split?side=service",
        {"X-Customer-Id": INSIDE},
        {"capability": "split", "mode": "canary", "served_by": "svc", "status": 200},
    ),
    (
        "GET",
        "/split?side=legacy",
        {"X-Customer-Id": OUTSIDE},
        {"capability": "split", "mode": "canary", "served_by": "legacy", "status": 200},
    ),
    (  # the service is down: the monolith answers
        "GET",
        "/down?fallback=1",
        {},
        {"capability": "down", "mode": "extracted", "served_by": "legacy", "status": 200},
    ),
    (
        "GET",
        "/_status/404",
        {},
        {"capability": None, "mode": "legacy", "served_by": "legacy", "status": 404},
    ),
]


@pytest.mark.parametrize(("method", "target", "headers", "expected"), CASES)
async def test_each_request_is_one_json_line_naming_who_served_it(
    stack: Stack, method: str, target: str, headers: dict[str, str], expected: dict[str, Any]
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    status, body, received = await ask(stack, method, target, traceparent=TRACEPARENT, **headers)
    assert status == expected["status"]
    logged_path = target.replace("s3cret-t0ken", "[REDACTED]")
    entry = line_for(stack, logged_path)
    assert tuple(sorted(entry)) == tuple(sorted(FIELDS))
    assert {key: entry[key] for key in expected} == expected
    assert entry["method"] == method
    assert entry["bytes"] == len(body)
    assert isinstance(entry["latency_ms"], int | float)
    assert 0 <= entry["latency_ms"] < 5000
    at = datetime.fromisoformat(entry["time"])
    assert entry["time"].endswith("Z")
    assert before <= at <= datetime.now(UTC)
    assert entry["trace_id"] == TRACE
    if received:  # the echo's report: the ids the upstream was sent
        assert entry["request_id"] == received["x-request-id"]
        assert received["traceparent"].split("-")[1] == TRACE


async def test_a_secret_in_the_query_never_reaches_the_log(stack: Stack) -> None:
    await ask(stack, "GET", "/moved/2?password=pw-s3cret&code=c0de-42&keep=yes")
    entry = line_for(stack, "/moved/2?password=[REDACTED]&code=[REDACTED]&keep=yes")
    assert entry["capability"] == "moved"
    log = stack.log.read_text()
    for secret in ("pw-s3cret", "c0de-42", "s3cret-t0ken"):
        assert secret not in log


async def test_what_the_proxy_answers_itself_is_served_by_the_facade(stack: Stack) -> None:
    status, _, _ = await ask(stack, "GET", "/healthz")
    assert status == 200
    entry = line_for(stack, "/healthz")
    assert (entry["capability"], entry["mode"], entry["served_by"]) == (None, "legacy", "facade")
