"""The demo's copy of routes.yaml: pointed at the demo's processes, the walk's capability at the
start of its walk, the team's own file never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from facade import config as config_module
from strangler.demo.stack import (
    WayBack,
    database_env,
    lag_in,
    way_back_of,
    write_demo_routes,
)
from strangler.demo.traffic import Answer
from tests.support.processes import ROOT

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}   # the monolith
services:
  catalog: {url: "http://127.0.0.1:8101"}
  orders: {url: "http://127.0.0.1:8103"}
capabilities:
  product-catalog:
    match: [{methods: [GET], path: "/api/products/{sku}"}]
    service: catalog
    mode: canary            # mid-way in the team's own file
    canary: {percent: 30}
    promote: {min_comparisons: 100}
  orders:
    match: [{path: /api/orders}]
    service: orders
    mode: extracted
store: {url: "postgresql+psycopg://team@db/evidence"}
"""


def _copy(tmp_path: Path, text: str = ROUTES, *, minimum: int = 200) -> tuple[Path, list[str]]:
    source = tmp_path / "routes.yaml"
    source.write_text(text)
    copy = write_demo_routes(
        source,
        tmp_path / "demo" / "routes.yaml",
        capability="product-catalog",
        legacy_port=18000,
        service="catalog",
        service_port=18101,
        min_comparisons=minimum,
    )
    return copy.path, list(copy.changes)


def test_the_copy_points_at_the_demo_and_starts_every_capability_at_legacy(
    tmp_path: Path,
) -> None:
    path, changes = _copy(tmp_path)

    config = config_module.load(path)
    routes = config.routes
    assert routes.legacy.url == "http://127.0.0.1:18000"
    assert routes.services["catalog"].url == "http://127.0.0.1:18101"
    assert routes.services["orders"].url == "http://127.0.0.1:8103"  # not the demo's
    assert {name: cap.mode for name, cap in routes.capabilities.items()} == {
        "product-catalog": "legacy",
        "orders": "legacy",
    }
    # the demo's evidence never reaches the team's store
    assert config.store_url == f"sqlite:///{path.parent / 'strangler.db'}"
    assert routes.debug_headers is True
    # canary traffic comes from one address: only a header key spreads it
    assert routes.capabilities["product-catalog"].canary.sticky == "header:X-Customer-Id"
    assert "mode -> legacy for product-catalog, orders (the walk starts there)" in changes


def test_the_copy_keeps_comments_and_the_source_is_never_written(tmp_path: Path) -> None:
    path, _ = _copy(tmp_path)

    assert (tmp_path / "routes.yaml").read_text() == ROUTES
    text = path.read_text()
    assert "# the monolith" in text
    assert "# mid-way in the team's own file" in text


@pytest.mark.parametrize(("own", "expected"), [(500, 200), (100, 100)])
def test_min_comparisons_is_lowered_for_a_quick_demo_never_raised(
    tmp_path: Path, own: int, expected: int
) -> None:
    path, changes = _copy(
        tmp_path, ROUTES.replace("min_comparisons: 100", f"min_comparisons: {own}")
    )

    cap = config_module.load(path).routes.capabilities["product-catalog"]
    assert cap.promote.min_comparisons == expected
    assert any("min_comparisons" in c for c in changes) == (own > expected)


def test_the_shipped_routes_yaml_makes_a_valid_demo_copy(tmp_path: Path) -> None:
    copy = write_demo_routes(
        ROOT / "routes.yaml",
        tmp_path / "routes.yaml",
        capability="product-catalog",
        legacy_port=18000,
        service="catalog",
        service_port=18101,
        min_comparisons=200,
    )

    loaded = config_module.load(copy.path)
    routes = loaded.routes
    cap = routes.capabilities["product-catalog"]
    assert (cap.mode, cap.promote.min_comparisons, routes.debug_headers) == ("legacy", 200, True)
    # the endpoint inventory, named relative to the team's file, is found from the copy's
    assert loaded.inventory is not None
    assert Path(loaded.inventory.source) == ROOT / "legacy_monolith" / "endpoints.json"
    # the header key was already there: kept as the team wrote it
    assert not any("sticky" in c for c in copy.changes)


def test_a_service_database_variable_is_the_one_its_data_plugin_reads() -> None:
    assert database_env("catalog") == "STRANGLER_CATALOG_DB"
    assert database_env("inventory") == "STRANGLER_INVENTORY_DB"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("product-catalog;canary;catalog", ("product-catalog", "canary", "catalog")),
        ("-;legacy;legacy", ("-", "legacy", "legacy")),
        (None, None),
    ],
)
def test_an_answer_says_who_served_it_from_the_debug_header(
    header: str | None, expected: tuple[str, str, str] | None
) -> None:
    headers = (("X-Strangler-Route", header),) if header is not None else ()
    answer = Answer(200, headers, b"")

    assert answer.route == expected
    assert answer.served_by == (expected[2] if expected else "?")


def test_walking_the_catalog_also_walks_inventorys_way_back_on_its_own_port(
    tmp_path: Path,
) -> None:
    config = config_module.load(ROOT / "routes.yaml")
    way_back = way_back_of(config, "product-catalog", port=18102)
    assert way_back == WayBack("inventory", "inventory", 18102)

    copy = write_demo_routes(
        ROOT / "routes.yaml",
        tmp_path / "routes.yaml",
        capability="product-catalog",
        legacy_port=18000,
        service="catalog",
        service_port=18101,
        min_comparisons=200,
        way_back=way_back,
    )

    routes = config_module.load(copy.path).routes
    assert routes.services["inventory"].url == "http://127.0.0.1:18102"
    assert routes.capabilities["inventory"].promote.min_comparisons == 60
    assert routes.capabilities["inventory"].mode == "legacy"
    assert "services.inventory.url -> :18102 (the way back)" in copy.changes


def test_no_separate_way_back_when_inventory_is_walked_or_has_no_way_back(tmp_path: Path) -> None:
    shipped = config_module.load(ROOT / "routes.yaml")
    assert way_back_of(shipped, "inventory", port=18102) is None
    source = tmp_path / "routes.yaml"
    source.write_text(ROUTES)  # no inventory at all
    assert way_back_of(config_module.load(source), "product-catalog", port=18102) is None


METRICS = """# HELP strangler_sync_lag_seconds Age of the oldest captured change not applied yet.
# TYPE strangler_sync_lag_seconds gauge
strangler_sync_lag_seconds{capability="inventory",direction="back"} 1.5
strangler_sync_lag_seconds{capability="inventory",direction="forward"} 0.0
strangler_sync_pending{capability="inventory",direction="forward"} 0.0
"""


def test_the_relays_lag_is_read_per_direction_from_its_metrics() -> None:
    assert lag_in(METRICS, direction="forward") == 0.0
    assert lag_in(METRICS, direction="back") == 1.5
    assert lag_in("strangler_sync_pending 3.0\n", direction="forward") is None
