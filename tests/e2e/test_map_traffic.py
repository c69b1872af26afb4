"""The migration map from real traffic: the demo shop (Django under gunicorn) behind a real
facade with the shop's own endpoint inventory, product-catalog extracted to the catalog
service, inventory in shadow; ``strangler map --json`` gives each share within a point of
what the clients were answered by, and the endpoints nobody called."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import processes
from tests.support.chromium import needs_chromium, rendered_dom
from tests.support.probe import wait_until
from tests.support.services import call, catalog_seed, extracted_service, inventory_seed

pytestmark = pytest.mark.e2e
INVENTORY = processes.ROOT / "legacy_monolith" / "endpoints.json"
SKUS = [f"SKU-{n:05d}" for n in range(1, 21)]

# (method, path, times): several endpoints, each its own share of the traffic
TRAFFIC = [
    *[("GET", f"/api/products/{sku}", 3) for sku in SKUS],  # extracted: catalog
    ("GET", "/api/products", 20),  # extracted: catalog
    *[("GET", f"/api/inventory/{sku}", 2) for sku in SKUS],  # shadow: the monolith answers
    ("GET", "/api/orders?cust_id=1", 25),  # no capability
    ("GET", "/shop/", 10),  # no capability (the storefront)
    ("GET", "/no/such/page", 15),  # no endpoint of the inventory: (unknown)
]


def routes_yaml(legacy: str, catalog: str, inventory: str, store: Path) -> str:
    return f"""\
version: 1
legacy: {{url: "{legacy}", timeout: 10s, endpoints: "{INVENTORY}"}}
services:
  catalog: {{url: "{catalog}", timeout: 5s}}
  inventory: {{url: "{inventory}", timeout: 5s}}
capabilities:
  product-catalog:
    match:
      - {{methods: [GET, HEAD], path: /api/products}}
      - {{methods: [GET, HEAD], path: "/api/products/{{sku}}"}}
    service: catalog
    translator: catalog.products
    mode: extracted
    fallback: error
  inventory:
    match: [{{methods: [GET, HEAD], path: "/api/inventory/{{sku}}"}}]
    service: inventory
    translator: inventory.stock
    mode: shadow
store:
  url: sqlite:///{store}
debug_headers: true
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The shop, its two services, and a facade in front on routes.yaml: (routes, state)."""
    state = tmp_path_factory.mktemp("map-traffic")
    started: list[processes.Running] = []  # stopped whatever fails after them
    try:
        shop = processes.monolith(state, log_dir=state, seed_args=["--products", "40"])
        started.append(shop)
        catalog = extracted_service(
            "catalog", state_dir=state, log_dir=state, seed_file=catalog_seed(shop.url, state / "c")
        )
        started.append(catalog)
        inventory = extracted_service(
            "inventory",
            state_dir=state,
            log_dir=state,
            seed_file=inventory_seed(shop.url, state / "i", skus=SKUS),
        )
        started.append(inventory)
        routes = state / "routes.yaml"
        routes.write_text(routes_yaml(shop.url, catalog.url, inventory.url, state / "store.db"))
        facade = processes.facade(routes, log_dir=state)
        started.append(facade)
        served = Counter[str]()
        for method, path, times in TRAFFIC:
            for _ in range(times):
                status, headers, body = call(f"{facade.url}{path}", method=method)
                route = {k.lower(): v for k, v in headers.items()}["x-strangler-route"]
                served[route.rsplit(";", 1)[-1]] += 1
                assert status == (404 if path == "/no/such/page" else 200), (path, body[:200])
        # what the clients were answered by, from the facade's own debug header
        (state / "served.json").write_text(json.dumps(served))
        yield routes, state
    finally:
        for running in reversed(started):
            running.stop()


def strangler_map(routes: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(processes.BIN / "strangler"), "map", "--json", "--routes", str(routes)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def counted_map(routes: Path) -> dict[str, Any]:
    """``strangler map --json`` once the store holds every request sent (the facade hands
    its counts to the store every 10 s)."""
    sent = sum(times for _, _, times in TRAFFIC)
    found: dict[str, Any] = {}

    def counted() -> bool:
        found.update(strangler_map(routes))
        return bool(found["totals"]["requests"] >= sent)

    wait_until(counted, f"the store holds the {sent} requests", timeout=60)
    return found


def test_map_of_real_traffic_gives_the_shares_and_the_unused_endpoints(
    stack: tuple[Path, Path],
) -> None:
    routes, state = stack
    served = Counter(json.loads((state / "served.json").read_text()))
    sent = sum(times for _, _, times in TRAFFIC)
    # the extracted capability's requests were answered by its service, the rest by the
    # monolith (the shadow capability's too)
    assert served == {"catalog": 80, "legacy": sent - 80}
    found = counted_map(routes)
    totals = found["totals"]
    assert totals["requests"] == sent
    expected = served["catalog"] / sent
    assert abs(totals["request_share_served_by_services"] - expected) <= 0.01
    assert abs(totals["unknown_share"] - 15 / sent) <= 0.01

    rows = {row["endpoint"]: row for row in found["endpoints"]}
    for endpoint, requests, by_services in (
        ("/api/products/{sku}", 60, 1.0),
        ("/api/products", 20, 1.0),
        ("/api/inventory/{sku}", 40, 0.0),
        ("/api/orders", 25, 0.0),
        ("/shop/", 10, 0.0),
    ):
        row = rows[endpoint]
        assert row["requests"] == requests, endpoint
        assert abs(row["share"] - requests / sent) <= 0.01, endpoint
        assert row["service_share"] == by_services, endpoint
    assert "product-catalog" in rows["/api/products/{sku}"]["capabilities"]
    assert rows["/api/inventory/{sku}"]["modes"]["inventory"] == "shadow"
    # the unowned endpoints with traffic, busiest first
    assert [c["endpoint"] for c in found["candidates"]] == ["/api/orders", "/shop/"]
    # none that was called is unused; endpoints nobody called are
    called = {"/api/products/{sku}", "/api/products", "/api/inventory/{sku}", "/api/orders"}
    unused = set(found["unused"])
    assert not unused & (called | {"/shop/"})
    assert {"/api/orders/{order_no}/cancel", "/api/blob", "/account/"} <= unused
    assert found["decommission"]["ready"] is False


@needs_chromium
def test_map_of_real_traffic_renders_in_headless_chromium(stack: tuple[Path, Path]) -> None:
    routes, state = stack
    counted_map(routes)
    page = state / "map.html"
    done = subprocess.run(
        [str(processes.BIN / "strangler"), "map", "--html", str(page), "--routes", str(routes)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    dom = rendered_dom(page, profile=state / "chromium-profile")
    assert 'id="service-share-chart"' in dom
    assert 'class="services"' in dom  # this hour's column: part served by the catalog
    assert "<code>/api/orders</code>" in dom  # the busiest unowned endpoint, a candidate
