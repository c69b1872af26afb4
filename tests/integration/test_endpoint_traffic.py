"""Traffic per monolith endpoint through a real ``strangler serve`` (issue 18, part 2 and the
retired alarm): stand-in upstreams on free ports, requests across several endpoints (one the
inventory does not list, one that falls back to the monolith); /metrics and the store's
``endpoint_totals`` count exactly; two facade processes on one store add up; the retired
alarm shows in /metrics and ``strangler status``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from parallel_run.endpoint_traffic import endpoint_totals
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support import processes
from tests.support.probe import wait_until

pytestmark = pytest.mark.integration

ENDPOINTS = [
    {"template": "/api/products", "methods": ["GET", "HEAD"]},
    {"template": "/api/products/{sku}", "methods": ["GET", "HEAD"]},
    {"template": "/api/orders", "methods": None},
    {"template": "/api/inventory/{sku}", "methods": ["GET"]},
]

ROUTES = """\
version: 1
legacy: {{url: '{legacy}', endpoints: endpoints.json, timeout: 5s}}
store: {{url: 'sqlite:///store.db'}}
services:
  catalog: {{url: '{catalog}'}}
  dead: {{url: 'http://127.0.0.1:{dead}', connect_timeout: 1s}}
capabilities:
  product-catalog:
    match:
      - {{methods: [GET, HEAD], path: "/api/products/{{sku}}"}}
    service: catalog
    mode: extracted
    fallback: error
    retired: true
  featured:
    match:
      - {{methods: [GET], path: /api/products/featured}}
    mode: legacy
  inventory:
    match:
      - {{methods: [GET], path: "/api/inventory/{{sku}}"}}
    service: dead
    mode: extracted
    fallback: legacy
"""

# (method, path) sent, and the key each is counted under
REQUESTS = [
    ("GET", "/api/products/a", ("/api/products/{sku}", "GET", "product-catalog", "catalog")),
    ("GET", "/api/products/b", ("/api/products/{sku}", "GET", "product-catalog", "catalog")),
    ("GET", "/api/products/c", ("/api/products/{sku}", "GET", "product-catalog", "catalog")),
    ("GET", "/api/products", ("/api/products", "GET", "", "legacy")),
    ("GET", "/api/products/", ("/api/products", "GET", "", "legacy")),
    ("POST", "/api/orders", ("/api/orders", "POST", "", "legacy")),
    ("GET", "/not/listed", ("(unknown)", "GET", "", "legacy")),
    # the service is down: the monolith serves it, and it counts as the monolith's
    ("GET", "/api/inventory/1", ("/api/inventory/{sku}", "GET", "inventory", "legacy")),
    ("GET", "/api/inventory/2", ("/api/inventory/{sku}", "GET", "inventory", "legacy")),
    # `featured` (legacy) takes it, but its endpoint is claimed by the retired product-catalog
    ("GET", "/api/products/featured", ("/api/products/{sku}", "GET", "featured", "legacy")),
]
Key = tuple[str, str, str, str]
LABELS = {
    "strangler_endpoint_requests_total": ("endpoint", "method", "capability", "served_by"),
    "strangler_retired_reached_monolith_total": ("capability", "endpoint"),
}


def expected(times: int = 1) -> dict[Key, int]:
    counts: dict[Key, int] = {}
    for _method, _path, key in REQUESTS:
        counts[key] = counts.get(key, 0) + times
    return counts


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """(routes.yaml, a closed port): two echo upstreams, the inventory and routes.yaml."""
    state = tmp_path_factory.mktemp("traffic")
    legacy = processes.echo_upstream("legacy", log_dir=state)
    catalog = processes.echo_upstream("catalog", log_dir=state)
    dead = processes.free_port()
    try:
        (state / "endpoints.json").write_text(json.dumps({"version": 1, "endpoints": ENDPOINTS}))
        routes = state / "routes.yaml"
        routes.write_text(ROUTES.format(legacy=legacy.url, catalog=catalog.url, dead=dead))
        yield routes, dead
    finally:
        catalog.stop()
        legacy.stop()


def send(port: int, method: str, path: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=b"" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code)


def send_all(port: int) -> None:
    for method, path, _key in REQUESTS:
        assert send(port, method, path) == 200, (method, path)


def scrape(port: int) -> dict[str, dict[tuple[str, ...], float]]:
    """Each sample of the facade's /metrics by name, then by its label values (in the order
    ``LABELS`` gives, else the exposition's)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            names = LABELS.get(s.name, tuple(s.labels))
            samples.setdefault(s.name, {})[tuple(s.labels[n] for n in names)] = s.value
    return samples


def endpoint_counts(port: int) -> dict[Key, int]:
    found = scrape(port).get("strangler_endpoint_requests_total", {})
    return {(e, m, c, s): int(v) for (e, m, c, s), v in found.items()}


def stored(routes: Path) -> dict[Key, int]:
    store = ResultStore.open(f"sqlite:///{routes.parent / 'store.db'}", redactor=Redactor())
    try:
        return {
            (t.endpoint, t.method, t.capability, t.served_by): t.count
            for t in endpoint_totals(store)
        }
    finally:
        store.close()


def test_requests_are_counted_per_endpoint_in_metrics_and_the_store_and_replicas_add_up(
    stack: tuple[Path, int],
) -> None:
    routes, _dead = stack
    first = processes.facade(routes, log_dir=routes.parent)
    second = processes.facade(routes, log_dir=routes.parent, extra=["--workers", "2"])
    try:
        send_all(first.port)
        assert endpoint_counts(first.port) == expected()
        alarms = scrape(first.port)["strangler_retired_reached_monolith_total"]
        assert alarms == {("product-catalog", "/api/products/{sku}"): 1.0}
        assert "retired capability 'product-catalog'" in first.log()
        # two workers: whichever answers the scrape shows both workers' counts
        send_all(second.port)
        send_all(second.port)
        wait_until(
            lambda: endpoint_counts(second.port) == expected(2),
            "the workers' counts summed in /metrics",
            timeout=10,
        )
    finally:
        # a graceful stop hands the last counts to the store
        assert first.stop() == 0
        assert second.stop() == 0
    assert stored(routes) == expected(3)
    assert "Traceback" not in first.log()


def test_status_shows_the_retired_alarm(stack: tuple[Path, int]) -> None:
    routes, _dead = stack
    facade = processes.facade(routes, log_dir=routes.parent)
    try:
        assert send(facade.port, "GET", "/api/products/featured") == 200
    finally:
        assert facade.stop() == 0

    def status(*extra: str) -> str:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "strangler"),
                "status",
                "--routes",
                str(routes),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=routes.parent,
            env={**os.environ, "COLUMNS": "200"},
        )
        return result.stdout

    rows = {row["name"]: row for row in json.loads(status("--json"))["capabilities"]}
    assert rows["product-catalog"]["retired_alarm"] == 1
    assert rows["featured"]["retired_alarm"] is None
    assert "ALARM: retired capability product-catalog: 1 request(s)" in status()


def readyz_inventory_problem(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            body = answer.read()
    except urllib.error.HTTPError as error:
        with error:
            body = error.read()
    config = json.loads(body)["config"]
    assert config["last_reload_error"] is None  # a broken inventory never rejects a reload
    found: str | None = config["inventory_problem"]
    return found


def test_an_inventory_edit_is_reloaded_and_a_broken_one_shows_on_readyz(
    stack: tuple[Path, int],
) -> None:
    routes, _dead = stack
    inventory = routes.parent / "endpoints.json"
    facade = processes.facade(routes, log_dir=routes.parent)
    try:
        inventory.write_text('{"version": 1, "endpoints": [{"template": "/{"}]}')
        wait_until(
            lambda: readyz_inventory_problem(facade.port) is not None,
            "the broken inventory reported",
        )
        assert f"{inventory}:" in (readyz_inventory_problem(facade.port) or "")
        assert send(facade.port, "GET", "/not/listed") == 200  # the old inventory still counts
        listed = [*ENDPOINTS, {"template": "/not/listed", "methods": ["GET"]}]
        inventory.write_text(json.dumps({"version": 1, "endpoints": listed}))
        wait_until(
            lambda: readyz_inventory_problem(facade.port) is None, "the fixed inventory applied"
        )
        assert send(facade.port, "GET", "/not/listed") == 200
        counts = endpoint_counts(facade.port)
        assert counts[("(unknown)", "GET", "", "legacy")] == 1
        assert counts[("/not/listed", "GET", "", "legacy")] == 1
    finally:
        assert facade.stop() == 0
