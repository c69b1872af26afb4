"""`/metrics` under `strangler serve --workers 2` is the facade's, not the answering worker's:
counters and histograms are summed over the workers (a replaced worker's counts stay), and
every live worker's breaker state and `*_up` gauge is a sample of its own (a `pid` label)."""

from __future__ import annotations

import os
import signal
import sys
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support import processes
from tests.support.probe import get_body, wait_until
from tests.support.processes import Running

STRANGLER = str(Path(sys.executable).parent / "strangler")
REQUESTS = 1000
CAPABILITY = """\
services:
  catalog: {url: "%s", timeout: 5s}
capabilities:
  products:
    match: [{methods: [GET], path: /api/products}]
    service: catalog
    mode: extracted
"""


def samples(facade: Running) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of one scrape of /metrics, by sample name."""
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    text = get_body(facade.url + "/metrics").decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name].append((dict(sample.labels), sample.value))
    return found


def proxied(found: dict[str, list[tuple[dict[str, str], float]]], name: str) -> tuple[float, float]:
    """The sum of sample ``name`` over the requests served by legacy, and by catalog."""
    by = defaultdict(float, {"legacy": 0.0, "catalog": 0.0})
    for labels, value in found.get(name, []):
        by[labels.get("served_by", "")] += value
    return by["legacy"], by["catalog"]


def serve_workers(tmp_path: Path, routes: Path, tmp: Path) -> Running:
    port = processes.free_port()
    return processes.start(
        "facade",
        [STRANGLER, "serve", "--routes", str(routes), "--port", str(port), "--workers", "2"],
        port=port,
        log_dir=tmp_path,
        ready_path="/healthz",
        env={"TMPDIR": str(tmp)},  # where the workers' metric files go
    )


def listening_pids(log: str) -> set[int]:
    return {
        int(line.rsplit("pid ", 1)[1].rstrip(")"))
        for line in log.splitlines()
        if "facade listening" in line
    }


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as answer:
        answer.read()
        return int(answer.status)


def test_one_scrape_counts_every_request_of_every_worker(tmp_path: Path) -> None:
    legacy = processes.echo_upstream("legacy", log_dir=tmp_path)
    catalog = processes.echo_upstream("catalog", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", legacy.url, CAPABILITY % catalog.url)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    facade = serve_workers(tmp_path, routes, tmp)
    try:
        wait_until(lambda: len(listening_pids(facade.log())) == 2, "both workers listening")
        pids = {str(pid) for pid in listening_pids(facade.log())}
        # a new connection per request: SO_REUSEPORT spreads them over both workers
        urls = [facade.url + ("/api/products" if i % 2 else "/x") for i in range(REQUESTS)]
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(get, urls)) == {200}

        found = samples(facade)
        # probes (/healthz, /metrics) are counted too, served by the facade itself
        assert proxied(found, "strangler_requests_total") == (REQUESTS / 2, REQUESTS / 2)
        assert proxied(found, "strangler_request_duration_seconds_count") == (
            REQUESTS / 2,
            REQUESTS / 2,
        )
        # a sum of "up" means nothing: one sample per worker
        assert {labels["pid"] for labels, _ in found["strangler_legacy_up"]} == pids
        breakers = found["strangler_breaker_state"]
        assert {labels["pid"] for labels, _ in breakers} == pids
        assert {(labels["service"], value) for labels, value in breakers} == {("catalog", 0.0)}

        # a worker killed and replaced: its counts stay in the sums, its gauges leave
        victim = min(int(pid) for pid in pids)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(listening_pids(facade.log())) == 3, "a replacement listening")
        now = {str(pid) for pid in listening_pids(facade.log())} - {str(victim)}
        wait_until(
            lambda: (
                {labels["pid"] for labels, _ in samples(facade)["strangler_breaker_state"]} <= now
            ),
            "the dead worker's breaker sample gone",
        )
        found = samples(facade)
        assert proxied(found, "strangler_requests_total") == (REQUESTS / 2, REQUESTS / 2)
        assert facade.stop() == 0
        assert list(tmp.iterdir()) == []  # the metric files are removed with the facade
    finally:
        facade.stop()
        legacy.stop()
        catalog.stop()
