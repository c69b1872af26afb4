"""What ``data sync CAP`` runs per mode, who owns a conflict, and where routes.yaml is wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facade.config import load
from strangler.data.metrics import parse_listen
from strangler.data.plan import (
    PlanError,
    PlanReader,
    direction_plan,
    needed_directions,
    plan_for,
)
from strangler.data.relay import settings_of
from tests.support.sync_shop import inventory_data

ROUTES = """\
version: 1
legacy: {{url: "http://127.0.0.1:8000"}}
services:
  inventory: {{url: "http://127.0.0.1:8102"}}
capabilities:
  inventory:
    match: [{{methods: [GET], path: "/api/inventory/{{sku}}"}}]
    service: inventory
    mode: {mode}
{data}
  orders:
    match: [{{path: /api/orders}}]
    data:
      source: legacy_monolith.data:orders
      translate: acl.x:y
      target: extracted.x:y
"""


def routes(tmp_path: Path, *, mode: str = "shadow", back: bool = True) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(
        ROUTES.format(
            mode=mode,
            data=inventory_data(data=["batch_size: 300"], sync=["retention: 1h"], back=back),
        )
    )
    return path


@pytest.mark.parametrize(
    ("mode", "has_back", "needed"),
    [
        ("legacy", True, ()),
        ("shadow", True, ("forward",)),
        ("canary", True, ("forward", "back")),
        ("extracted", True, ("forward", "back")),
        ("canary", False, ("forward",)),
        ("extracted", False, ("forward",)),
    ],
)
def test_the_mode_decides_the_directions(mode: str, has_back: bool, needed: tuple[str]) -> None:
    assert needed_directions(mode, has_back=has_back) == needed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "forward_owner", "back_owner", "both"),
    [
        ("shadow", "source", "target", True),  # the back relay drains after a rollback
        ("canary", "source", "target", True),  # the monolith owns until cutover
        ("extracted", "target", "source", True),  # the service after
    ],
)
def test_the_owner_wins_conflicts_in_both_directions(
    tmp_path: Path, mode: str, forward_owner: str, back_owner: str, both: bool
) -> None:
    plan = plan_for(load(routes(tmp_path, mode=mode)), "inventory")

    assert plan.ledger_owner("forward") == forward_owner
    assert plan.ledger_owner("back") == back_owner
    assert plan.looks_for_conflicts is both
    assert (plan.batch_size, plan.retention) == (300, 3600.0)


def test_after_a_rollback_the_back_relay_still_decides_conflicts_for_the_monolith(
    tmp_path: Path,
) -> None:
    # canary -> shadow: the back relay drains the service's pending changes; a key the
    # monolith changed meanwhile must win, not be overwritten
    settings = settings_of(
        plan_for(load(routes(tmp_path, mode="shadow")), "inventory"), "back", batch_size=None
    )

    assert (settings.conflicts, settings.owner) == (True, "target")


def test_forward_only_looks_for_no_conflict(tmp_path: Path) -> None:
    plan = plan_for(load(routes(tmp_path, mode="canary", back=False)), "inventory")

    assert plan.looks_for_conflicts is False


def test_each_direction_names_its_plugins_and_outboxes(tmp_path: Path) -> None:
    config = load(routes(tmp_path))

    forward = direction_plan(config, "inventory", "forward")
    back = direction_plan(config, "inventory", "back")

    assert (forward.source, forward.aggregate, forward.target_aggregate) == (
        "legacy_monolith.data:stock",
        "inventory",
        "stock",
    )
    assert (back.target, back.aggregate, back.target_aggregate) == (
        "legacy_monolith.data:stock_writer",
        "stock",
        "inventory",
    )


def test_routes_without_a_sync_say_where(tmp_path: Path) -> None:
    config = load(routes(tmp_path, back=False))

    with pytest.raises(PlanError) as no_sync:
        plan_for(config, "orders")
    with pytest.raises(PlanError) as no_back:
        direction_plan(config, "inventory", "back")
    with pytest.raises(PlanError) as unknown:
        plan_for(config, "nope")

    assert no_sync.value.loc == ("capabilities", "orders", "data")
    assert no_back.value.loc == ("capabilities", "inventory", "data", "sync")
    assert "with data.sync: inventory" in str(unknown.value)


def test_the_plan_is_reread_when_routes_yaml_changes_and_kept_when_it_breaks(
    tmp_path: Path,
) -> None:
    path = routes(tmp_path, mode="canary")
    reader = PlanReader(path, "inventory", load)
    assert reader.current().owner == "legacy"

    routes(tmp_path, mode="extracted")
    os.utime(path, ns=(1, 10**18))  # a new mtime, whatever the clock's resolution
    assert reader.current().owner == "service"

    path.write_text("version: [")
    os.utime(path, ns=(1, 2 * 10**18))
    assert reader.current().owner == "service"


def test_a_retired_capability_runs_forward_only_and_closes_the_way_back(tmp_path: Path) -> None:
    path = routes(tmp_path, mode="extracted")
    reader = PlanReader(path, "inventory", load)
    assert (reader.current().needed, reader.current().closed) == (("forward", "back"), ())

    path.write_text(
        path.read_text().replace(
            "    mode: extracted\n", "    mode: extracted\n    retired: true\n    fallback: error\n"
        )
    )
    os.utime(path, ns=(1, 10**18))
    plan = reader.current()
    assert (plan.needed, plan.closed, plan.owner) == (("forward",), ("back",), "service")


@pytest.mark.parametrize(
    ("listen", "parsed"),
    [(":9465", ("127.0.0.1", 9465)), ("0.0.0.0:0", ("0.0.0.0", 0)), ("[::1]:80", ("::1", 80))],
)
def test_metrics_listen_addresses(listen: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(listen) == parsed


@pytest.mark.parametrize("listen", ["9465", "host:", "host:http", "h:70000"])
def test_bad_metrics_listen_addresses_are_refused(listen: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(listen)
