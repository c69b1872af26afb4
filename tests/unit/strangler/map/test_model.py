"""The migration map's model: shares, ranking, unused, partial claims, retired, unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from facade.config import Config, parse
from facade.config.endpoints import UNKNOWN_ENDPOINT, dump_inventory, parse_inventory
from parallel_run.endpoint_traffic import EndpointTotal, MinuteServed
from strangler.map.model import EndpointRow, build_map, decommission, series, share

NOW = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}
services:
  catalog: {url: "http://127.0.0.1:8101"}
  orders: {url: "http://127.0.0.1:8102"}
  cart: {url: "http://127.0.0.1:8103"}
  reports: {url: "http://127.0.0.1:8104"}
capabilities:
  catalog:
    match:
      - {methods: [GET, HEAD], path: /api/products}
      - {methods: [GET, HEAD], path: "/api/products/{sku}"}
    service: catalog
    mode: extracted
  orders:
    match: [{methods: [GET, POST], path: /api/orders}]
    service: orders
    mode: shadow
  cart:
    match: [{methods: [POST], path: /cart}]
    service: cart
    mode: canary
    canary: {percent: 20}
  reports:
    match: [{methods: [GET], path: /old/reports}]
    service: reports
    mode: extracted
    fallback: error
    retired: true
"""

ENDPOINTS: list[dict[str, Any]] = [
    {"template": "/api/products", "methods": ["GET", "HEAD"], "view": "catalog.views.index"},
    {"template": "/api/products/{sku}", "methods": ["GET", "HEAD"], "view": "catalog.views.one"},
    {"template": "/api/orders", "methods": ["GET", "POST"], "view": "orders.views.orders"},
    {"template": "/api/orders/{id}", "methods": ["GET"], "view": "orders.views.order"},
    {"template": "/search", "methods": ["GET"], "view": "shop.views.search"},
    {"template": "/cart", "methods": ["GET", "POST"], "view": "cart.views.cart"},
    {"template": "/account", "methods": None, "view": "accounts.views.account"},
    {"template": "/old/reports", "methods": ["GET"], "view": "reports.views.old"},
    {"template": None, "methods": None, "pattern": "^legacy/(?P<x>.+)$", "reason": "a regex"},
    {"template": "/api/orders", "methods": ["GET"], "view": "orders.views.legacy_orders"},
]


def config_of(routes: str = ROUTES, endpoints: list[dict[str, Any]] = ENDPOINTS) -> Config:
    parsed, matcher = parse(routes)
    inventory = parse_inventory(dump_inventory(endpoints), source="endpoints.json")
    return Config(Path("routes.yaml"), parsed, matcher, "", inventory)


def total(
    endpoint: str,
    count: int,
    *,
    method: str = "GET",
    capability: str = "",
    served_by: str = "legacy",
    last: datetime = NOW - timedelta(hours=1),
) -> EndpointTotal:
    return EndpointTotal(endpoint, method, capability, served_by, count, last, last)


TOTALS = [
    total("/api/products", 300, capability="catalog", served_by="catalog"),
    total("/api/products/{sku}", 150, capability="catalog", served_by="catalog"),
    total("/api/products/{sku}", 50, capability="catalog"),  # fell back to the monolith
    total("/api/orders", 200, capability="orders"),  # shadow: the monolith answers
    total("/api/orders/{id}", 120),
    total("/search", 130, last=NOW - timedelta(days=2)),
    total("/search", 0 + 5, method="HEAD", last=NOW - timedelta(minutes=3)),
    total("/cart", 40),
    total("/cart", 10, method="POST", capability="cart", served_by="cart"),
    total("/cart", 30, method="POST", capability="cart"),
    total("/old/reports", 30, capability="reports", served_by="reports"),
    total("/old/reports", 20, capability="reports"),  # before it was extracted
    total(UNKNOWN_ENDPOINT, 80),
    total(UNKNOWN_ENDPOINT, 7, capability="reports", served_by="reports"),
    total("/gone", 50),  # an endpoint an older inventory listed
]
ALL = 300 + 150 + 50 + 200 + 120 + 135 + 40 + 10 + 30 + 30 + 20 + 80 + 7 + 50
BY_SERVICES = 300 + 150 + 10 + 30 + 7


def built(**overrides: Any) -> Any:
    config = overrides.pop("config", None) or config_of()
    assert config.inventory is not None
    return build_map(
        config,
        config.inventory,
        overrides.pop("totals", TOTALS),
        now=NOW,
        window=overrides.pop("window", WINDOW),
        minutes=overrides.pop("minutes", ()),
        # counting began before the window (an old tally outside it)
        counted_since=overrides.pop("counted_since", NOW - WINDOW - timedelta(days=1)),
    )


def row(rows: Any, key: str) -> EndpointRow:
    (found,) = [r for r in rows if r.key == key]
    return found


def test_request_shares_are_exact_fractions_of_all_traffic_unknown_included() -> None:
    m = built()
    assert m.requests == ALL
    assert m.served_by_services == BY_SERVICES
    assert m.request_share_served == BY_SERVICES / ALL
    totals = m.to_dict()["totals"]
    assert totals["requests"] == ALL
    assert totals["request_share_served_by_services"] == BY_SERVICES / ALL
    assert totals["unknown_requests"] == 87
    assert totals["unknown_share"] == 87 / ALL


def test_an_endpoint_is_moved_when_extracted_capabilities_serve_all_of_it() -> None:
    m = built()
    moved = [r.key for r in m.rows if r.moved]
    # the retired capability is extracted too; canary and shadow are not moved
    assert moved == ["/api/products", "/api/products/{sku}", "/old/reports"]
    assert m.endpoint_share_moved == 3 / len(ENDPOINTS)
    # the shadowed duplicate of /api/orders is claimed as /api/orders is
    assert m.to_dict()["totals"]["endpoints_claimed"] == 6


def test_each_row_has_its_owner_mode_traffic_and_last_seen() -> None:
    m = built()
    products = row(m.rows, "/api/products/{sku}")
    assert (products.owner, products.mode, products.partial) == ("catalog", "extracted", False)
    assert (products.requests, products.served_by_services) == (200, 150)
    assert products.service_share == 0.75
    orders = row(m.rows, "/api/orders")
    assert (orders.owner, orders.mode, orders.service_share) == ("orders", "shadow", 0.0)
    search = row(m.rows, "/search")
    assert search.owner is None
    assert search.capabilities == ()
    assert search.last_seen == NOW - timedelta(minutes=3)
    entry = products.to_dict(m.requests)
    assert entry["share"] == 200 / ALL
    assert entry["methods"] == ["GET", "HEAD"]
    assert entry["last_seen"] == (NOW - timedelta(hours=1)).isoformat()
    assert row(m.rows, "/account").to_dict(m.requests)["methods"] is None


def test_unowned_endpoints_are_ranked_by_traffic_and_unused_ones_are_left_out() -> None:
    m = built()
    assert [(r.key, r.requests) for r in m.candidates()] == [
        ("/search", 135),
        ("/api/orders/{id}", 120),
    ]
    assert [c["endpoint"] for c in m.to_dict()["candidates"]] == ["/search", "/api/orders/{id}"]


def test_ranking_ties_are_broken_by_endpoint_so_the_output_is_stable() -> None:
    m = built(totals=[total("/search", 10), total("/api/orders/{id}", 10)])
    assert [r.key for r in m.candidates()] == ["/api/orders/{id}", "/search"]


def test_endpoints_nobody_called_are_unused_but_not_patterns_or_retired_ones() -> None:
    m = built()
    # the shadowed duplicate of /api/orders is never served by Django: unused too
    assert [r.key for r in m.unused()] == ["/account", "/api/orders (shadowed, line 11)"]
    assert [r.key for r in m.uncounted()] == ["(pattern) ^legacy/(?P<x>.+)$"]
    # its requests are counted under the earlier pattern's key, never its own
    assert not row(m.rows, "/api/orders (shadowed, line 11)").counted
    assert row(m.rows, "/api/orders").counted
    quiet = built(totals=[])
    assert "/old/reports" not in [r.key for r in quiet.unused()]
    assert len(quiet.unused()) == len(ENDPOINTS) - 2


def test_an_endpoint_claimed_for_some_methods_only_is_partial() -> None:
    m = built()
    cart = row(m.rows, "/cart")
    assert cart.partial
    assert cart.owner is None
    assert cart.mode is None
    assert cart.capabilities == ("cart",)
    assert cart.modes == {"cart": "canary"}
    assert [p["endpoint"] for p in m.to_dict()["partial"]] == ["/cart"]


def test_two_capabilities_claiming_parts_of_one_endpoint_are_listed_with_their_modes() -> None:
    routes = ROUTES + (
        "  featured:\n"
        "    match: [{methods: [GET], path: /api/products/featured}]\n"
        "    service: catalog\n"
        "    mode: shadow\n"
    )
    m = built(config=config_of(routes))
    products = row(m.rows, "/api/products/{sku}")
    assert products.partial
    assert products.owner is None
    assert products.capabilities == ("catalog", "featured")
    assert products.modes == {"catalog": "extracted", "featured": "shadow"}
    # the monolith still serves the narrower capability's part: not moved
    assert not products.moved
    assert {
        "endpoint": "/api/products/{sku}",
        "capabilities": ["catalog", "featured"],
        "modes": {"catalog": "extracted", "featured": "shadow"},
    } in m.to_dict()["partial"]


def test_endpoints_of_retired_capabilities_are_deletable_but_what_the_monolith_answered_holds() -> (
    None
):
    m = built()
    reports = row(m.rows, "/old/reports")
    assert reports.deletable
    assert reports.requests == 50
    # the 30 its service served hold nothing up; the 20 the monolith answered do
    assert reports.holding == 20
    assert [r.key for r in m.deletable()] == ["/old/reports"]
    served = built(totals=[total("/old/reports", 30, capability="reports", served_by="reports")])
    assert decommission(served) == []


def test_decommission_lists_every_endpoint_with_traffic_outside_retired_capabilities() -> None:
    m = built()
    holds = decommission(m)
    assert [(h.endpoint, h.requests) for h in holds] == [
        ("/api/products", 300),
        ("/api/orders", 200),
        ("/api/products/{sku}", 200),
        ("/search", 135),
        ("/api/orders/{id}", 120),
        # the unknown requests a retired capability matched hold nothing up
        (UNKNOWN_ENDPOINT, 80),
        ("/cart", 80),
        ("/gone", 50),
        # a retired capability's requests the monolith answered hold it up all the same
        ("/old/reports", 20),
    ]
    products = holds[2]
    assert products.served_by_legacy == 50
    assert products.capabilities == ("catalog",)
    assert m.to_dict()["decommission"]["ready"] is False


def test_decommission_is_empty_when_only_retired_capabilities_had_traffic() -> None:
    m = built(
        totals=[
            total("/old/reports", 9, capability="reports", served_by="reports"),
            total(UNKNOWN_ENDPOINT, 3, capability="reports", served_by="reports"),
        ]
    )
    assert decommission(m) == []
    assert m.ready
    assert m.to_dict()["decommission"] == {
        "ready": True,
        "holding": [],
        "counted_since": (NOW - WINDOW - timedelta(days=1)).isoformat(),
        "coverage_gap": None,
    }


RETIRED_ONLY = [total("/old/reports", 9, capability="reports", served_by="reports")]


def test_no_tallies_at_all_is_no_evidence_the_monolith_can_be_switched_off() -> None:
    m = built(totals=[], counted_since=None)
    assert decommission(m) == []
    assert not m.ready
    assert m.coverage_gap == (
        "no traffic counted since 2026-11-03 18:00 UTC: the facade has counted nothing yet"
    )
    assert m.to_dict()["decommission"]["ready"] is False


def test_tallies_that_began_inside_the_window_are_no_evidence_for_all_of_it() -> None:
    began = NOW - timedelta(hours=2)
    m = built(totals=RETIRED_ONLY, counted_since=began)
    assert decommission(m) == []
    assert not m.ready
    assert m.coverage_gap == (
        "no traffic counted since 2026-11-03 18:00 UTC: the facade has counted only since "
        "2026-12-03 16:00 UTC"
    )
    # counting from within a minute of the window's start covers it
    assert built(totals=RETIRED_ONLY, counted_since=NOW - WINDOW + timedelta(minutes=1)).ready
    late = NOW - WINDOW + timedelta(minutes=2)
    assert not built(totals=RETIRED_ONLY, counted_since=late).ready


CATCH_ALL = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}
services:
  files: {url: "http://127.0.0.1:8101"}
  thumbs: {url: "http://127.0.0.1:8102"}
capabilities:
  files:
    match: [{methods: [GET], path: "/files/{rest:path}"}]
    service: files
    mode: extracted
  thumbs:
    match: [{methods: [GET], path: "/files/{name}/{size}"}]
    service: thumbs
    mode: extracted
    fallback: error
    retired: true
"""


def test_holding_follows_the_capability_each_tally_recorded_not_static_ownership() -> None:
    # static ownership gives GET /files/{rest:path} to thumbs (retired): only the tallies
    # know that files, which is not retired, matched these requests
    config = config_of(CATCH_ALL, [{"template": "/files/{rest:path}", "methods": ["GET"]}])
    m = built(
        config=config,
        totals=[
            total("/files/{rest:path}", 40, capability="files", served_by="files"),
            total("/files/{rest:path}", 5, capability="thumbs", served_by="thumbs"),
        ],
    )
    assert [(h.endpoint, h.requests, h.capabilities) for h in decommission(m)] == [
        ("/files/{rest:path}", 40, ("files",))
    ]
    assert not m.ready


def test_unknown_traffic_alone_holds_the_monolith_up() -> None:
    m = built(totals=[total(UNKNOWN_ENDPOINT, 1)])
    assert [h.endpoint for h in decommission(m)] == [UNKNOWN_ENDPOINT]
    assert m.unknown.requests == 1
    assert not m.unknown.listed


def test_unknown_comes_first_among_unlisted_then_keys_the_inventory_lost() -> None:
    m = built()
    assert [r.key for r in m.unlisted] == [UNKNOWN_ENDPOINT, "/gone"]
    assert m.unknown.capabilities == ("reports",)
    assert m.unknown.served_by_services == 7


def test_no_traffic_gives_zero_shares_not_a_division_error() -> None:
    m = built(totals=[])
    assert m.requests == 0
    assert m.request_share_served == 0.0
    assert m.unknown.requests == 0
    assert share(0, 0) == 0.0


def test_series_buckets_minutes_per_day_over_a_long_window_with_empty_days_kept() -> None:
    day = datetime(2026, 12, 1, tzinfo=UTC)
    minutes = [
        MinuteServed(day + timedelta(hours=3), legacy=90, services=10),
        MinuteServed(day + timedelta(hours=20, minutes=5), legacy=10, services=0),
        MinuteServed(day + timedelta(days=2, hours=1), legacy=25, services=75),
        MinuteServed(day - timedelta(days=40), legacy=1000, services=0),  # outside the window
    ]
    m = built(minutes=minutes, window=timedelta(days=3))
    assert m.step == "day"
    assert [(p.start.day, p.requests, p.served_by_services) for p in m.series] == [
        (30, 0, 0),
        (1, 110, 10),
        (2, 0, 0),
        (3, 100, 75),
    ]
    assert m.series[1].service_share == 10 / 110
    assert m.series[0].service_share is None


def test_series_is_hourly_over_a_short_window() -> None:
    points = series(
        [MinuteServed(NOW - timedelta(minutes=30), legacy=1, services=3)],
        since=NOW - timedelta(hours=2),
        until=NOW,
        step="hour",
    )
    assert [(p.start.hour, p.requests) for p in points] == [(16, 0), (17, 4), (18, 0)]
    assert built(window=timedelta(hours=2)).step == "hour"


@pytest.mark.parametrize("window", [timedelta(hours=1), timedelta(days=30)])
def test_the_map_serialises_its_window(window: timedelta) -> None:
    data = built(window=window).to_dict()
    assert data["since"] == (NOW - window).isoformat()
    assert data["until"] == NOW.isoformat()
    assert data["inventory"] == "endpoints.json"


def test_each_row_says_in_one_word_what_to_do_with_it() -> None:
    m = built()
    statuses = {r.key: r.status for r in (*m.rows, *m.unlisted)}
    assert statuses == {
        "/api/products": "moved",
        "/api/products/{sku}": "moved",
        "/api/orders": "migrating",
        "/api/orders/{id}": "candidate",
        "/search": "candidate",
        "/cart": "partial",
        "/account": "unused: delete",
        "/old/reports": "deletable",
        "(pattern) ^legacy/(?P<x>.+)$": "not counted",
        "/api/orders (shadowed, line 11)": "shadowed: delete",
        UNKNOWN_ENDPOINT: "unknown",
        "/gone": "not in the inventory",
    }


def test_an_endpoint_overlapping_an_earlier_one_is_counted_with_it_not_unused() -> None:
    # path("api/orders/<int:id>"), then path("api/orders/<slug:slug>"): Django serves
    # /api/orders/latest from the second, and the facade counts it under the first
    overlapping = {
        "template": "/api/orders/{slug}",
        "methods": ["GET"],
        "view": "orders.views.by_slug",
        "params": {"slug": "slug"},
    }
    endpoints = [
        {**e, "params": {"id": "int"}} if e["template"] == "/api/orders/{id}" else e
        for e in ENDPOINTS
    ]
    m = built(config=config_of(endpoints=[*endpoints, overlapping]))
    found = row(m.rows, "/api/orders/{slug} (overlaps, line 12)")
    assert found.overlaps == "/api/orders/{id}"
    assert found.status == "counted with /api/orders/{id}"
    assert (found.unused, found.deletable) == (False, False)
    assert found.key not in [r.key for r in m.unused()]
    assert found.to_dict(1)["overlaps"] == "/api/orders/{id}"
