"""`strangler plan` in process: the endpoints and the share of recent traffic a change moves
(extracted moves all of a capability's traffic, canary P% moves P% of it), what its gate says,
and the routes a proposal leaves unreachable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from facade import config as config_module
from facade.config.endpoints import dump_inventory
from parallel_run.store import ResultStore
from strangler.cli.plan import describe
from strangler.lifecycle import routes_file
from strangler.lifecycle.plan import (
    Plan,
    PlanVerb,
    plan_change,
    proposed_by_verb,
    unreachable_routes,
)
from strangler.lifecycle.steps import BadRequest, Refused, parse_routes
from tests.support import retire_store as seed

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ROUTES = """\
version: 1
legacy:
  url: "http://127.0.0.1:8000"
  endpoints: endpoints.json
services:
  catalog: {url: "http://127.0.0.1:8101"}
capabilities:
  products:
    match: [{methods: [GET], path: "/api/products/{sku}"}]
    service: catalog
    mode: shadow
    promote: {min_comparisons: 5}
  files:
    match: [{path: "/files/{rest:path}"}]
    service: catalog
    mode: extracted
store:
  url: sqlite:///store.db
"""
ENDPOINTS = [
    {"template": "/api/products/{sku}", "methods": ["GET"], "view": "shop.product"},
    {"template": "/api/orders", "methods": ["GET", "POST"], "view": "shop.orders"},
    {"template": "/files/{rest:path}", "methods": ["GET"], "view": "shop.files"},
]


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    (tmp_path / "endpoints.json").write_text(dump_inventory(ENDPOINTS))
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


@pytest.fixture
def store(routes: Path) -> Iterator[ResultStore]:
    """60 product requests (the monolith serves them: shadow), 30 orders, 10 files."""
    opened = seed.open_store(routes)
    at = NOW - timedelta(days=2)
    seed.served(opened, "products", at=at, by="legacy", count=60, endpoint="/api/products/{sku}")
    seed.served(opened, "", at=at, by="legacy", count=30, endpoint="/api/orders")
    seed.served(opened, "files", at=at, by="catalog", count=10, endpoint="/files/{rest:path}")
    seed.served(opened, "", at=NOW - timedelta(days=9), by="legacy", count=500, endpoint="/x")
    yield opened
    opened.close()


def plan_verb(
    routes: Path,
    store: ResultStore | None,
    verb: PlanVerb,
    cap: str,
    *,
    percent: float | None = None,
) -> Plan:
    config = config_module.load(routes)
    data, _ = routes_file.read(routes)
    proposed = proposed_by_verb(routes, data, config, verb, cap, percent=percent)
    return plan_change(config, proposed, proposal=f"{verb} {cap}", store=store, now=NOW)


def plan_against(routes: Path, text: str, store: ResultStore | None) -> Plan:
    """The plan for replacing ``routes`` by ``text`` (written beside it as proposed.yaml)."""
    proposal = routes.with_name("proposed.yaml")
    proposal.write_text(text)
    data, digest = routes_file.read(proposal)
    return plan_change(
        config_module.load(routes),
        parse_routes(proposal, data, digest),
        proposal="p",
        store=store,
        now=NOW,
    )


def test_a_cutover_moves_all_of_its_endpoints_traffic_and_its_gate_says_no(
    routes: Path, store: ResultStore
) -> None:
    built = plan_verb(routes, store, "cutover", "products")

    (cap,) = built.capabilities
    assert (cap.before and cap.before.mode, cap.after and cap.after.mode) == ("shadow", "extracted")
    assert not cap.allowed
    assert "needs 5 more comparisons" in cap.verdict()
    assert built.traffic is not None
    assert built.traffic.requests == 100  # the 500 requests before the 7d window are left out
    (change,) = built.traffic.changes
    assert (change.endpoint, change.requests, change.share) == ("/api/products/{sku}", 60, 0.6)
    assert (change.owner_before, change.owner_after) == (
        "products (shadow)",
        "products (extracted)",
    )
    assert (change.served_before, change.served_after, change.moved) == (0, 60, 60)
    assert built.to_dict()["traffic"]["moved_to_services_share"] == 0.6
    assert built.exit_code == 3


def test_a_canary_moves_its_percent_of_the_traffic(routes: Path, store: ResultStore) -> None:
    built = plan_verb(routes, store, "canary", "products", percent=5)

    assert built.traffic is not None
    (change,) = built.traffic.changes
    assert (change.served_before, change.served_after) == (0, 3)  # 5% of 60
    assert change.owner_after == "products (canary 5%)"
    assert built.exit_code == 0  # 5% is under promote.ungated_canary_percent
    assert built.capabilities[0].verdict().startswith("not gated")


def test_a_rollback_moves_traffic_back_to_the_monolith_ungated(
    routes: Path, store: ResultStore
) -> None:
    built = plan_verb(routes, store, "rollback", "files")

    assert built.traffic is not None
    assert (built.traffic.to_services, built.traffic.to_monolith) == (0, 10)
    assert built.exit_code == 0


def test_a_hand_edited_file_adds_an_owner_and_leaves_a_route_unreachable(
    routes: Path, store: ResultStore
) -> None:
    built = plan_against(
        routes,
        ROUTES.replace(
            "store:",
            "  orders:\n"
            '    match: [{path: "/api/orders"}, {path: "/files/{name}/x"}]\n'
            "    service: catalog\n"
            "    mode: canary\n"
            "    canary: {percent: 50}\n"
            "store:",
        ),
        store,
    )

    (cap,) = built.capabilities
    assert (cap.name, cap.before, cap.after and cap.after.served) == ("orders", None, 50.0)
    assert not cap.allowed  # 50% is gated, and nothing was compared
    assert built.traffic is not None
    changes = {c.endpoint: c for c in built.traffic.changes}
    orders = changes["/api/orders"]
    assert (orders.owner_before, orders.owner_after, orders.moved) == (
        "monolith",
        "orders (canary 50%)",
        15,  # 50% of its 30 requests
    )
    # the new route claims part of the files endpoint (/files/a/x), so the map shows it in
    # part; the files tallies were matched by files, whose routes do not change: they stay
    files = changes["/files/{rest:path}"]
    assert files.owner_after == "partial: files (extracted), orders (canary 50%)"
    assert (files.served_before, files.served_after) == (10, 10)
    assert set(changes) == {"/api/orders", "/files/{rest:path}"}
    # /files/a and /files/a/b/c still reach files: no route is unreachable
    assert built.unreachable == ()


def test_a_rest_route_is_reachable_beside_a_two_segment_route_and_keeps_its_traffic(
    routes: Path, store: ResultStore
) -> None:
    routes.write_text(
        ROUTES.replace(
            "store:",
            "  thumbs:\n"
            '    match: [{path: "/files/{name}/{size}"}]\n'
            "    service: catalog\n"
            "    mode: shadow\n"
            "store:",
        )
    )
    config = config_module.load(routes)
    assert config.matcher.match("GET", "/files/a") is not None
    assert config.matcher.match("GET", "/files/a/b/c").route.capability == "files"  # type: ignore[union-attr]

    built = plan_verb(routes, store, "canary", "products", percent=5)

    assert built.unreachable == ()
    assert built.traffic is not None
    # the files tallies were matched by files (extracted): served by the service, before and
    # after, not put on thumbs' shadow mode
    assert "/files/{rest:path}" not in {c.endpoint for c in built.traffic.changes}
    rollback = plan_verb(routes, store, "rollback", "files")
    assert rollback.traffic is not None
    (files,) = [c for c in rollback.traffic.changes if c.endpoint == "/files/{rest:path}"]
    assert (files.served_before, files.served_after) == (10, 0)


def test_a_route_every_sample_of_which_another_takes_is_unreachable(routes: Path) -> None:
    routes.write_text(
        ROUTES.replace(
            "store:",
            "  thumbs:\n"
            '    match: [{path: "/files/{name}"}, {path: "/files/{name}/{rest:path}"}]\n'
            "    service: catalog\n"
            "    mode: shadow\n"
            "store:",
        )
    )
    config = config_module.load(routes)
    (route,) = unreachable_routes(config, new=False)
    assert (route.capability, route.route) == ("files", "* /files/{rest:path}")


def test_a_retire_plan_shows_the_retirement_gate(routes: Path, store: ResultStore) -> None:
    built = plan_verb(routes, store, "retire", "files")

    (cap,) = built.capabilities
    assert cap.after is not None
    assert cap.after.retired
    assert cap.retirement is not None
    assert "no record of its move to extracted" in cap.verdict()
    assert built.traffic is not None
    (change,) = built.traffic.changes  # its endpoint is the retired capability's: deletable
    assert (change.owner_after, change.moved) == ("files (extracted, retired)", 0)
    assert built.exit_code == 3


def test_a_verb_keeps_its_own_checks(routes: Path, store: ResultStore) -> None:
    with pytest.raises(BadRequest):
        plan_verb(routes, store, "canary", "products")  # no --percent
    with pytest.raises(BadRequest):
        plan_verb(routes, store, "cutover", "nope")
    routes.write_text(
        ROUTES.replace(
            "    mode: extracted", "    mode: extracted\n    retired: true\n    fallback: error"
        )
    )
    with pytest.raises(Refused):
        plan_verb(routes, store, "rollback", "files")


def test_without_an_inventory_the_plan_says_no_traffic_is_counted(routes: Path) -> None:
    routes.write_text(ROUTES.replace("  endpoints: endpoints.json\n", ""))
    built = plan_verb(routes, None, "cutover", "products")
    assert built.traffic is None
    assert built.to_dict()["traffic"] is None


def test_a_proposal_that_widens_a_route_shows_it_and_the_endpoint_it_takes(
    routes: Path, store: ResultStore
) -> None:
    built = plan_against(
        routes,
        ROUTES.replace(
            '[{methods: [GET], path: "/api/products/{sku}"}]',
            '[{methods: [GET], path: "/api/products/{sku}"}, {path: "/api/orders"}]',
        ),
        store,
    )

    text = describe(built)
    assert "    + route * /api/orders" in text
    assert "/api/orders: 30 requests (30.0% of all); monolith -> products (shadow)" in text
    assert "served by a service 0 -> 0" in text  # shadow: the monolith still answers
    assert built.exit_code == 0  # no step grows the service's share


def test_a_capability_moved_to_another_service_is_listed(routes: Path, store: ResultStore) -> None:
    built = plan_against(
        routes,
        ROUTES.replace(
            "  catalog: {url:", '  files: {url: "http://127.0.0.1:8103"}\n  catalog: {url:'
        ).replace(
            "    service: catalog\n    mode: extracted", "    service: files\n    mode: extracted"
        ),
        store,
    )

    (cap,) = built.capabilities
    assert cap.name == "files"
    assert (
        "files: extracted -> extracted; service serves 100% -> 100%; service catalog -> files"
        in (describe(built))
    )


def test_a_plan_computes_each_files_ownership_once(
    routes: Path, store: ResultStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import strangler.lifecycle.plan as plan_module
    from facade.config.endpoints import ownership
    from strangler.map import model

    calls: list[object] = []

    def counted(*args: Any) -> Any:
        calls.append(args)
        return ownership(*args)

    for module in (model, plan_module):
        if hasattr(module, "ownership"):
            monkeypatch.setattr(module, "ownership", counted)

    plan_verb(routes, store, "cutover", "products")

    assert len(calls) == 2  # once per file: the one in force and the proposal


def test_a_tally_of_a_capability_no_file_has_is_placed_by_its_endpoint(routes: Path) -> None:
    """Tallied under a capability since renamed away: placed again by the endpoint's sample
    under each file, so the cutover of the capability that now claims it moves it."""
    opened = seed.open_store(routes)
    at = NOW - timedelta(days=1)
    seed.served(opened, "old-name", at=at, by="legacy", count=8, endpoint="/api/products/{sku}")
    try:
        built = plan_verb(routes, opened, "cutover", "products")
    finally:
        opened.close()

    assert built.traffic is not None
    (change,) = built.traffic.changes
    assert (change.served_before, change.served_after) == (0, 8)
