"""Resilience of service calls through real processes: the gunicorn monolith, echo services
that fail on demand, and ``strangler serve``. Fallback to the monolith, fallback: error, the
breaker opening and closing, retries, timeouts and the bulkhead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from facade.resilience.scrape import breaker_states
from tests.support import processes

STRANGLER = str(Path(sys.executable).parent / "strangler")

pytestmark = pytest.mark.integration
PRODUCT = "/api/products/SKU-00001"
Reply = tuple[int, dict[str, str], bytes]
FALLBACK = 'strangler_fallbacks_total{{capability="products",reason="{}"}}'


def call(url: str, *, method: str = "GET", data: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def served_by(reply: Reply) -> str:
    return reply[1]["X-Strangler-Route"].rsplit(";", 1)[1]


def seen(service: processes.Running) -> int:
    return int(json.loads(call(service.url + "/_seen")[2])["count"])


def control(service: processes.Running, query: str) -> None:
    assert call(f"{service.url}/_control?{query}")[0] == 200


def metric(facade: processes.Running, sample: str) -> float:
    """The value of one sample line of /metrics (0 when absent)."""
    for line in call(facade.url + "/metrics")[2].decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def breaker(facade: processes.Running) -> dict[str, str]:
    return breaker_states(call(facade.url + "/metrics")[2].decode())


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Running]:
    state = tmp_path_factory.mktemp("resilience-shop")
    running = processes.monolith(state, log_dir=state, seed_args=["--products", "3"])
    yield running
    running.stop()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[processes.Running]]:
    """Processes a test starts, stopped after it whatever happens."""
    running: list[processes.Running] = []
    yield running
    for proc in reversed(running):
        proc.stop()


def facade_for(
    tmp_path: Path,
    started: list[processes.Running],
    shop: processes.Running,
    service_url: str,
    *,
    service: str = "",
    capability: str = "",
    translator: bool = False,
) -> processes.Running:
    """A facade with capability ``products`` (``/api/products/{sku}``) cut over to ``svc``."""
    routes = tmp_path / "routes.yaml"
    settings = {"url": service_url, "timeout": "2s", "connect_timeout": "500ms"}
    settings |= dict(line.split(": ", 1) for line in service.split(";") if line)
    lines = [
        "version: 1",
        f"legacy: {{url: '{shop.url}', timeout: 5s}}",
        "debug_headers: true",
        "services:",
        "  svc:",
        *(f"    {key}: {value}" for key, value in settings.items()),
        "capabilities:",
        "  products:",
        "    service: svc",
        "    mode: extracted",
        "    match: [{path: '/api/products/{sku}'}]",
        *(["    translator: catalog.products"] if translator else []),
        *(f"    {line}" for line in capability.split(";") if line),
    ]
    routes.write_text("\n".join(lines) + "\n")
    facade = processes.facade(routes, log_dir=tmp_path)
    started.append(facade)
    return facade


def echo(tmp_path: Path, started: list[processes.Running], *extra: str) -> processes.Running:
    service = processes.echo_upstream("svc", log_dir=tmp_path, extra=extra)
    started.append(service)
    return service


@pytest.mark.parametrize("translator", [False, True], ids=["pass-through", "translated"])
def test_a_killed_service_is_answered_by_the_monolith(
    tmp_path: Path, started: list[processes.Running], shop: processes.Running, translator: bool
) -> None:
    service = echo(tmp_path, started)
    # writes may move to the monolith's database only when the capability says so
    facade = facade_for(
        tmp_path,
        started,
        shop,
        service.url,
        translator=translator,
        capability="fallback_unsafe: legacy",
    )
    service.stop()
    direct = call(shop.url + PRODUCT)
    for _ in range(3):
        reply = call(facade.url + PRODUCT)
        assert reply[0] == 200
        assert served_by(reply) == "legacy"
        assert json.loads(reply[2])["product"] == json.loads(direct[2])["product"]
    assert metric(facade, FALLBACK.format("connect_error")) == 3
    if translator:
        return  # the catalog translator has no POST to translate
    # an unsafe method falls back too, when the service certainly never got it
    post = call(facade.url + PRODUCT, method="POST", data=b"{}")
    assert served_by(post) == "legacy"
    assert post[0] == call(shop.url + PRODUCT, method="POST", data=b"{}")[0]
    # a body spooled to a temporary file is sent again to the monolith
    big = call(facade.url + PRODUCT, method="PUT", data=b"x" * 200_000)
    assert served_by(big) == "legacy"
    assert big[0] == call(shop.url + PRODUCT, method="PUT", data=b"x" * 200_000)[0]
    assert metric(facade, FALLBACK.format("connect_error")) == 5


def test_fallback_error_answers_problem_json_and_503_once_the_circuit_opens(
    tmp_path: Path, started: list[processes.Running], shop: processes.Running
) -> None:
    service = echo(tmp_path, started)
    facade = facade_for(
        tmp_path,
        started,
        shop,
        service.url,
        service="circuit_breaker: {failure_rate: 0.5, min_calls: 2, open_for: 30s}",
        capability="fallback: error",
    )
    service.stop()
    for _ in range(2):
        status, headers, body = call(facade.url + PRODUCT)
        assert status == 502
        assert headers["Content-Type"] == "application/problem+json"
        assert "cannot connect" in json.loads(body)["detail"]
    status, headers, body = call(facade.url + PRODUCT)
    assert status == 503
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["title"] == "Service Unavailable"
    assert "circuit open" in problem["detail"]
    assert breaker(facade) == {"svc": "open"}
    # `strangler status --facade` shows the same state beside the capability
    shown = subprocess.run(
        [STRANGLER, "status", "--routes", str(tmp_path / "routes.yaml"), "--json"],
        env={**os.environ, "STRANGLER_FACADE_URL": facade.url},
        capture_output=True,
        text=True,
        check=True,
    )
    (row,) = json.loads(shown.stdout)["capabilities"]
    assert (row["name"], row["breaker"]) == ("products", "open")
    # a reload that leaves the service's settings alone leaves its breaker alone
    routes = tmp_path / "routes.yaml"
    before = json.loads(call(facade.url + "/readyz")[2])["config"]["sha256"]
    routes.write_text(routes.read_text().replace("timeout: 5s", "timeout: 6s") + "# edited\n")
    deadline = time.monotonic() + 5
    while json.loads(call(facade.url + "/readyz")[2])["config"]["sha256"] == before:
        assert time.monotonic() < deadline, "the facade did not reload routes.yaml"
        time.sleep(0.1)
    assert breaker(facade) == {"svc": "open"}
    assert call(facade.url + PRODUCT)[0] == 503


def test_the_breaker_opens_stops_calling_and_closes_after_open_for(
    tmp_path: Path, started: list[processes.Running], shop: processes.Running
) -> None:
    service = echo(tmp_path, started)
    facade = facade_for(
        tmp_path,
        started,
        shop,
        service.url,
        service="circuit_breaker: {failure_rate: 0.5, min_calls: 3, open_for: 1s}",
    )
    assert served_by(call(facade.url + PRODUCT)) == "svc"
    control(service, "status=503")
    for _ in range(2):  # 1 success and 2 failures of 3 calls: 67% >= 50%
        reply = call(facade.url + PRODUCT)
        assert (reply[0], served_by(reply)) == (200, "legacy")  # a GET's 503 falls back
    assert breaker(facade) == {"svc": "open"}
    calls = seen(service)
    assert calls == 3
    for _ in range(5):
        reply = call(facade.url + PRODUCT)
        assert (reply[0], served_by(reply)) == (200, "legacy")
    assert seen(service) == calls  # while open, the service is not called at all
    assert metric(facade, FALLBACK.format("circuit_open")) == 5
    control(service, "status=0")
    time.sleep(1.2)
    assert breaker(facade) == {"svc": "half_open"}
    reply = call(facade.url + PRODUCT)
    assert (reply[0], served_by(reply)) == (200, "svc")  # the probe succeeded
    assert breaker(facade) == {"svc": "closed"}
    assert served_by(call(facade.url + PRODUCT)) == "svc"
    closed = (
        'strangler_breaker_transitions_total{from_state="half_open",service="svc",'
        'to_state="closed"}'
    )
    assert metric(facade, closed) == 1


def test_a_get_is_retried_through_transient_503s_and_a_post_never(
    tmp_path: Path, started: list[processes.Running], shop: processes.Running
) -> None:
    service = echo(tmp_path, started, "--fail-first", "2")
    facade = facade_for(
        tmp_path,
        started,
        shop,
        service.url,
        service="retries: 2;backoff: 10ms;circuit_breaker: {min_calls: 50}",
    )
    reply = call(facade.url + PRODUCT)
    assert (reply[0], served_by(reply)) == (200, "svc")
    assert json.loads(reply[2])["server"] == "svc"
    assert seen(service) == 3
    assert metric(facade, 'strangler_service_retries_total{service="svc"}') == 2
    control(service, "fail_first=1")
    post = call(facade.url + PRODUCT, method="POST", data=b"{}")
    # the service may have acted on it: no retry, no fallback; its own answer is relayed
    assert (post[0], served_by(post)) == (503, "svc")
    assert seen(service) == 4


def test_a_slow_service_falls_back_for_a_get_but_a_post_gets_504(
    tmp_path: Path, started: list[processes.Running], shop: processes.Running
) -> None:
    service = echo(tmp_path, started, "--delay", "3")
    facade = facade_for(
        tmp_path,
        started,
        shop,
        service.url,
        service="timeout: 300ms;circuit_breaker: {min_calls: 50}",
    )
    began = time.monotonic()
    reply = call(facade.url + PRODUCT)
    assert (reply[0], served_by(reply)) == (200, "legacy")
    assert time.monotonic() - began < 2
    status, headers, _ = call(facade.url + PRODUCT, method="POST", data=b"{}")
    assert status == 504
    assert headers["Content-Type"] == "application/problem+json"
    assert metric(facade, FALLBACK.format("timeout")) == 1


def test_the_bulkhead_refuses_calls_over_max_concurrency(
    tmp_path: Path, started: list[processes.Running], shop: processes.Running
) -> None:
    service = echo(tmp_path, started, "--delay", "1")
    facade = facade_for(
        tmp_path,
        started,
        shop,
        service.url,
        service="max_concurrency: 2;circuit_breaker: {min_calls: 50}",
        capability="fallback: error",
    )
    with ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda _: call(facade.url + PRODUCT), range(5)))
    statuses = sorted(reply[0] for reply in replies)
    assert statuses == [200, 200, 503, 503, 503]
    refused = [reply for reply in replies if reply[0] == 503]
    assert all(r[1]["Content-Type"] == "application/problem+json" for r in refused)
    assert (
        metric(facade, 'strangler_service_rejected_total{reason="bulkhead_full",service="svc"}')
        == 3
    )
    assert seen(service) == 2
