"""Requests per monolith endpoint (facade/traffic.py): the lookup, the counts, /metrics, the
hand-over to the store (and its drops while the store is down), the retired alarm."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from facade import config as config_module
from facade.config import Config
from facade.config.endpoints import UNKNOWN_ENDPOINT
from facade.config.evidence import store_settings
from facade.metrics import Metrics
from facade.traffic import MAX_CACHED, Traffic
from parallel_run.endpoint_traffic import endpoint_totals
from parallel_run.recorder import Recorder
from parallel_run.store import ResultStore, open_store
from parallel_run.store_settings import StoreSettings
from tests.support.probe import wait_until

ENDPOINTS = [
    {"template": "/api/products", "methods": ["GET", "HEAD"], "view": "v.products"},
    {"template": "/api/products/{sku}", "methods": ["GET", "HEAD"], "view": "v.product"},
    {"template": "/api/orders", "methods": None, "view": "v.orders"},
    {"template": None, "methods": None, "pattern": "^search/(?P<q>.+)$", "view": "v.search"},
]

ROUTES = """\
version: 1
legacy: {{url: 'http://127.0.0.1:9', endpoints: endpoints.json}}
store: {{url: 'sqlite:///store.db'}}
services:
  catalog: {{url: 'http://127.0.0.1:10'}}
capabilities:
  product-catalog:
    match:
      - {{methods: [GET, HEAD], path: "/api/products/{{sku}}"}}
    service: catalog
    mode: extracted
    fallback: error
    retired: {retired}
  featured:
    match:
      - {{methods: [GET], path: /api/products/featured}}
    mode: legacy
"""


def write(tmp_path: Path, *, retired: bool = False) -> Config:
    (tmp_path / "endpoints.json").write_text(json.dumps({"version": 1, "endpoints": ENDPOINTS}))
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES.format(retired="true" if retired else "false"))
    return config_module.load(routes)


def sample(metrics: Metrics, name: str, labels: dict[str, str]) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_requests_are_counted_per_endpoint_method_capability_and_side(tmp_path: Path) -> None:
    config = write(tmp_path)
    metrics = Metrics()
    traffic = Traffic(metrics, current=lambda: config, clock=lambda: 120.0)
    for _ in range(3):
        traffic.count(config, "GET", "/api/products/abc", "product-catalog", "catalog")
    traffic.count(config, "GET", "/api/products/featured", "featured", "legacy")
    traffic.count(config, "GET", "/api/products", "", "legacy")
    traffic.count(config, "POST", "/api/orders", "", "legacy")
    traffic.count(config, "GET", "/nowhere", "", "legacy")
    traffic.count(config, "BREW", "/api/orders", "", "legacy")  # any method: counted as OTHER
    taken = traffic.take()
    assert taken is not None
    minute, counts = taken
    assert minute == datetime(1970, 1, 1, 0, 2, tzinfo=UTC)
    assert counts == {
        ("/api/products/{sku}", "GET", "product-catalog", "catalog"): 3,
        ("/api/products/{sku}", "GET", "featured", "legacy"): 1,
        ("/api/products", "GET", "", "legacy"): 1,
        ("/api/orders", "POST", "", "legacy"): 1,
        (UNKNOWN_ENDPOINT, "GET", "", "legacy"): 1,
        ("/api/orders", "OTHER", "", "legacy"): 1,
    }
    assert traffic.take() is None  # taken once


def test_metrics_are_published_from_the_counts_without_double_counting(tmp_path: Path) -> None:
    config = write(tmp_path)
    metrics = Metrics()
    traffic = Traffic(metrics, current=lambda: config)
    labels = {
        "endpoint": "/api/products/{sku}",
        "method": "GET",
        "capability": "product-catalog",
        "served_by": "catalog",
    }
    name = "strangler_endpoint_requests_total"
    traffic.count(config, "GET", "/api/products/a", "product-catalog", "catalog")
    traffic.count(config, "GET", "/api/products/b", "product-catalog", "catalog")
    assert sample(metrics, name, labels) is None  # not before a publish
    assert b"strangler_endpoint_requests_total{" in metrics.exposition()
    assert sample(metrics, name, labels) == 2
    traffic.count(config, "GET", "/api/products/c", "product-catalog", "catalog")
    metrics.publish()
    metrics.publish()
    assert sample(metrics, name, labels) == 3
    traffic.take()  # publishes what is left first
    traffic.count(config, "GET", "/api/products/d", "product-catalog", "catalog")
    traffic.take()
    assert sample(metrics, name, labels) == 4


def test_lookups_are_cached_per_configuration_and_bounded(tmp_path: Path) -> None:
    config = write(tmp_path)
    traffic = Traffic(Metrics(), current=lambda: config)
    for i in range(MAX_CACHED + 50):
        traffic.count(config, "GET", f"/api/products/{i}", "", "legacy")
    lookup = traffic._lookups.get(config)
    assert len(lookup.cache) == MAX_CACHED
    seen = ("GET", f"/api/products/{MAX_CACHED + 10}", "", "legacy")
    assert seen not in lookup.cache
    assert lookup.key(seen) == ("/api/products/{sku}", "GET", "", "legacy")
    _, counts = traffic.take() or (None, {})
    assert counts == {("/api/products/{sku}", "GET", "", "legacy"): MAX_CACHED + 50}


def _store_totals(settings: StoreSettings) -> dict[tuple[str, str, str, str], int]:
    store = open_store(settings)
    try:
        return {
            (t.endpoint, t.method, t.capability, t.served_by): t.count
            for t in endpoint_totals(store)
        }
    finally:
        store.close()


def test_handed_over_counts_reach_the_store_and_add_up(tmp_path: Path) -> None:
    config = write(tmp_path)
    metrics = Metrics()
    start = time.time() // 60 * 60  # old minutes would be purged past the retention
    clock = iter(start + t for t in (0, 10, 20, 30))
    traffic = Traffic(metrics, current=lambda: config, clock=lambda: next(clock))
    traffic.count(config, "GET", "/api/products", "", "legacy")
    traffic.count(config, "GET", "/api/products", "", "legacy")
    traffic.hand_over()
    traffic.count(config, "GET", "/api/products", "", "legacy")
    traffic.count(config, "GET", "/x", "", "legacy")
    traffic.hand_over()
    traffic.writer.close(5.0)
    assert _store_totals(store_settings(config)) == {
        ("/api/products", "GET", "", "legacy"): 3,
        (UNKNOWN_ENDPOINT, "GET", "", "legacy"): 1,
    }
    metrics.publish()
    assert sample(metrics, "strangler_endpoint_tallies_written", {}) == 4
    assert sample(metrics, "strangler_endpoint_tallies_dropped", {}) == 0


def test_a_store_that_is_down_costs_counted_drops_and_writing_resumes(tmp_path: Path) -> None:
    config = write(tmp_path)
    metrics = Metrics()
    settings = store_settings(config)
    down = {"now": True}
    recorders: list[Recorder] = []

    def opener() -> ResultStore:
        if down["now"]:
            raise OperationalError("connect", {}, Exception("database is locked"))
        return open_store(settings)

    def open_recorder(_settings: StoreSettings, _config: Config) -> Recorder:
        recorder = Recorder(opener, retry_initial=0.01, retry_max=0.01).start()
        recorders.append(recorder)
        return recorder

    traffic = Traffic(metrics, current=lambda: config, open_recorder=open_recorder)
    for _ in range(5):
        traffic.count(config, "GET", "/api/products", "", "legacy")
    traffic.hand_over()
    traffic.writer.start()
    wait_until(lambda: _dropped(traffic) == 5, "5 requests counted as dropped")
    down["now"] = False
    traffic.count(config, "GET", "/api/products", "", "legacy")
    traffic.hand_over()
    wait_until(lambda: _written(traffic) == 1, "the next batch written")
    traffic.writer.close(5.0)
    assert _store_totals(settings) == {("/api/products", "GET", "", "legacy"): 1}
    metrics.publish()
    assert sample(metrics, "strangler_endpoint_tallies_dropped", {}) == 5
    assert len(recorders) == 1


def _dropped(traffic: Traffic) -> int:
    stats = traffic.writer.store.stats()
    return stats.endpoint_dropped if stats else 0


def _written(traffic: Traffic) -> int:
    stats = traffic.writer.store.stats()
    return stats.endpoint_written if stats else 0


def test_retired_capability_reaching_the_monolith_is_an_alarm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write(tmp_path, retired=True)
    metrics = Metrics()
    traffic = Traffic(metrics, current=lambda: config)
    caplog.set_level(logging.WARNING, logger="strangler.traffic")
    # /api/products/featured: the `featured` capability (legacy) takes it, but its endpoint,
    # /api/products/{sku}, is claimed for GET by the retired product-catalog
    traffic.count(config, "GET", "/api/products/featured", "featured", "legacy")
    traffic.count(config, "GET", "/api/products/featured", "featured", "legacy")
    # served by its service: no alarm; another endpoint: none either
    traffic.count(config, "GET", "/api/products/a", "product-catalog", "catalog")
    traffic.count(config, "GET", "/api/products", "", "legacy")
    labels = {"capability": "product-catalog", "endpoint": "/api/products/{sku}"}
    assert sample(metrics, "strangler_retired_reached_monolith_total", labels) == 2
    total = sum(
        s.value
        for family in metrics.registry.collect()
        if family.name == "strangler_retired_reached_monolith"
        for s in family.samples
        if s.name.endswith("_total")
    )
    assert total == 2
    warnings = [r for r in caplog.records if "retired capability" in r.getMessage()]
    assert len(warnings) == 1  # once a minute per capability


def test_no_alarm_without_a_retired_capability(tmp_path: Path) -> None:
    config = write(tmp_path)
    metrics = Metrics()
    traffic = Traffic(metrics, current=lambda: config)
    traffic.count(config, "GET", "/api/products/featured", "featured", "legacy")
    assert b"strangler_retired_reached_monolith_total{" not in metrics.exposition()
