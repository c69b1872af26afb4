"""Envoy's stats as the facade's metrics: Envoy from the wheel runs `strangler export envoy`'s
configuration, the Python facade runs the same routes.yaml, both get the same requests; Envoy's
``/stats/prometheus`` read through ``facade_metrics`` counts them per capability, mode,
served_by and status as the facade's own ``/metrics`` does (a fallback aside: docs/engines.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from facade.config import Config, load
from strangler.engine.envoy_stats import facade_metrics
from tests.support import processes, proxies
from tests.support.observed_routes import INSIDE, OUTSIDE, routes_for
from tests.support.probe import get_body, wait_until

Key = tuple[str, str, str, str]


@dataclass
class Stack:
    facade: processes.Running
    envoy: proxies.Proxy
    admin: int
    config: Config


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    envoy = proxies.envoy_binary()
    logs = tmp_path_factory.mktemp("logs")
    started = [processes.echo_upstream(name, log_dir=logs) for name in ("legacy", "svc")]
    try:
        legacy, svc = started
        work = tmp_path_factory.mktemp("stats")
        routes = work / "routes.yaml"
        routes.write_text(
            routes_for(legacy.url, svc.url, f"http://127.0.0.1:{processes.free_port()}")
        )
        facade = processes.facade(routes, log_dir=logs)
        started.append(facade)
        port, admin = processes.free_port(), processes.free_port()
        listen, admin_port = f"--listen=127.0.0.1:{port}", f"--admin-port={admin}"
        done = proxies.export("envoy", routes, work / "out", listen, admin_port)
        assert done.returncode == 0, done.stderr
        argv = [envoy, "-c", str(work / "out" / "envoy.yaml"), "--disable-hot-restart"]
        proxy = proxies.start("envoy", [*argv, "--concurrency", "1"], port=port, log_dir=logs)
        try:
            yield Stack(facade, proxy, admin, load(routes))
        finally:
            proxy.stop()
    finally:
        for running in started:
            running.stop()


# (method, target, headers, times)
REQUESTS = [
    ("GET", "/elsewhere", {}, 3),
    ("GET", "/_status/404", {}, 2),
    ("GET", "/moved/1", {}, 4),
    ("POST", "/moved/2", {}, 1),
    ("GET", "/split", {"X-Customer-Id": INSIDE}, 2),
    ("GET", "/split", {"X-Customer-Id": OUTSIDE}, 3),
    ("GET", "/down", {}, 2),  # the service is down: the monolith answers
]


async def send(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for method, target, headers, times in REQUESTS:
            for _ in range(times):
                async with session.request(method, base + target, headers=headers) as answer:
                    await answer.read()


def counts(text: str) -> dict[Key, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "strangler_requests_total":
                labels = sample.labels
                key = (labels["capability"], labels["mode"], labels["served_by"], labels["status"])
                found[key] = sample.value
    return found


def translated(stack: Stack) -> str:
    envoy_text = get_body(f"http://127.0.0.1:{stack.admin}/stats/prometheus").decode()
    return facade_metrics(envoy_text, stack.config)


def durations(text: str) -> dict[tuple[str, str], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "strangler_request_duration_seconds_count":
                found[(sample.labels["capability"], sample.labels["served_by"])] = sample.value
    return found


async def test_envoys_counts_per_capability_and_status_are_the_facades(stack: Stack) -> None:
    await send(stack.envoy.url)
    await send(stack.facade.url)
    ours = counts(get_body(stack.facade.url + "/metrics").decode())
    ours = {key: value for key, value in ours.items() if key[2] != "facade"}  # its own answers
    envoys = counts(translated(stack))
    expected = {
        ("-", "legacy", "legacy", "200"): 3,
        ("-", "legacy", "legacy", "404"): 2,
        ("moved", "extracted", "svc", "200"): 5,  # the POST too
        ("split", "canary", "svc", "200"): 2,
        ("split", "canary", "legacy", "200"): 3,
        ("down", "extracted", "legacy", "200"): 2,
    }
    assert ours == expected
    # Envoy counts a fallback under the service: one route takes both attempts
    fallback = ("down", "extracted", "legacy", "200")
    assert envoys == {
        **{key: value for key, value in expected.items() if key != fallback},
        ("down", "extracted", "gone", "200"): 2,
    }


async def test_envoys_latencies_are_counted_per_capability_and_served_by(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.get(stack.envoy.url + "/moved/9") as answer:
                assert answer.status == 200
    before = durations(translated(stack)).get(("moved", "svc"), 0)

    def histograms_flushed() -> bool:  # Envoy merges histograms at each stats flush (5 s)
        return durations(translated(stack)).get(("moved", "svc"), 0) >= 3

    wait_until(histograms_flushed, "Envoy's histograms are flushed")
    text = translated(stack)
    assert before <= durations(text)[("moved", "svc")]
    buckets = [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "strangler_request_duration_seconds_bucket"
        and sample.labels["capability"] == "moved"
    ]
    assert [sample.labels["le"] for sample in buckets][:3] == ["0.001", "0.0025", "0.005"]
    assert buckets[-1].labels["le"] == "+Inf"
    assert buckets[-1].value == durations(text)[("moved", "svc")]
