"""The inventory as a data-move target, on a real SQLite file: counters upserted once, the
service's own timestamp, refusals by its model, keyset reads, a database not there; and both
ends of its data sync: versioned applies (the shared SyncTarget contract, deletes, no echo) and
``read_keys`` for the way back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from acl.data import SyncSource, SyncTarget
from extracted.inventory.data import StockTarget, outbox_url, stock
from extracted.inventory.settings import DATABASE_ENV
from strangler_sync import SqlLedger
from tests.support.row_targets import (
    SYNC_TARGET_CONTRACT,
    FakeLedger,
    SyncCase,
    assert_reading_an_absent_database_creates_nothing,
    assert_the_plugin_opens_the_database_named_by,
    changes_of,
    outbox_rows,
)


def row(sku: str, on_hand: int = 12, reserved: int = 2) -> dict[str, Any]:
    return {"sku": sku, "on_hand": on_hand, "reserved": reserved, "available": on_hand - reserved}


@pytest.fixture
def target(tmp_path: Path) -> Iterator[StockTarget]:
    made = StockTarget(f"sqlite:///{tmp_path / 'inventory.db'}")
    made.prepare()
    yield made
    made.close()


def test_levels_are_written_once_then_unchanged(target: StockTarget) -> None:
    rows = [(f"SKU-{n}", row(f"SKU-{n}")) for n in range(1, 6)]
    assert (target.upsert(rows).written, target.count()) == (5, 5)
    again = target.upsert(rows)
    assert (again.written, again.unchanged) == (0, 5)
    changed = target.upsert([("SKU-2", row("SKU-2", reserved=3))])
    assert (changed.written, changed.unchanged) == (1, 0)


def test_reads_come_back_in_key_order_without_the_timestamp(target: StockTarget) -> None:
    target.upsert([(k, row(k)) for k in ("b", "a", "B")])
    assert target.read(after=None, limit=2) == [("B", row("B")), ("a", row("a"))]
    assert [k for k, _ in target.read(after="a", limit=2)] == ["b"]


def test_a_level_the_model_refuses_is_rejected_by_key(target: StockTarget) -> None:
    outcome = target.upsert([("SKU-1", row("SKU-1")), ("SKU-2", row("SKU-2", 1, reserved=5))])
    assert outcome.written == 1
    (rejected,) = outcome.rejected
    assert (rejected.key, rejected.field) == ("SKU-2", "reserved")


def test_reading_a_database_that_is_not_there_creates_nothing(tmp_path: Path) -> None:
    assert_reading_an_absent_database_creates_nothing(StockTarget, tmp_path)


def test_the_plugin_uses_the_services_own_database_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_the_plugin_opens_the_database_named_by(
        DATABASE_ENV, stock, tmp_path=tmp_path, monkeypatch=monkeypatch
    )


# -- strangler data sync inventory: both ways ------------------------------------------------


def stored_rows(target: StockTarget) -> dict[str, Any]:
    return dict(target.read(after=None, limit=1000))


@pytest.mark.parametrize("check", SYNC_TARGET_CONTRACT, ids=lambda check: check.__name__)
def test_the_inventory_keeps_the_sync_target_contract(
    check: Callable[[SyncCase], None], target: StockTarget, tmp_path: Path
) -> None:
    assert isinstance(target, SyncTarget)
    check(
        SyncCase(
            target=target,
            database=tmp_path / "inventory.db",
            rows={sku: row(sku) for sku in ("SKU-1", "SKU-2", "SKU-3")},
            changed=lambda old: row(str(old["sku"]), reserved=3),
            refused=("SKU-9", row("SKU-9", on_hand=1, reserved=5)),
            stored=lambda: stored_rows(target),
        )
    )


def test_an_admitted_delete_removes_the_level(target: StockTarget) -> None:
    target.upsert([(k, row(k)) for k in ("SKU-1", "SKU-2")])
    applied = target.apply(changes_of({"SKU-1": None, "SKU-404": None}), ledger=FakeLedger())
    assert (applied.deleted, applied.unchanged) == (1, 1)  # a level not there: unchanged
    assert list(stored_rows(target)) == ["SKU-2"]


def test_what_a_copy_or_a_sync_brings_is_not_recorded_for_the_way_back(
    target: StockTarget, tmp_path: Path
) -> None:
    target.upsert([("SKU-1", row("SKU-1"))])
    target.apply(
        changes_of({"SKU-1": row("SKU-1", 20), "SKU-2": row("SKU-2")}), ledger=FakeLedger()
    )
    assert stored_rows(target)["SKU-1"] == row("SKU-1", 20)
    assert outbox_rows(tmp_path / "inventory.db") == []  # no echo


def test_read_keys_gives_the_current_levels_of_present_skus(target: StockTarget) -> None:
    target.upsert([(f"SKU-{n:04d}", row(f"SKU-{n:04d}", n, reserved=0)) for n in range(1200)])
    assert isinstance(target, SyncSource)
    wanted = [f"SKU-{n:04d}" for n in range(0, 1200, 2)] + ["SKU-gone", "SKU-0002"]
    rows = {r.key: r.values for r in target.read_keys(wanted)}
    assert len(rows) == 600  # once each, more keys than one IN list; gone: no row
    assert rows["SKU-0002"] == row("SKU-0002", 2, reserved=0)


def test_read_keys_reports_a_level_the_model_refuses_by_its_sku(
    target: StockTarget, tmp_path: Path
) -> None:
    target.upsert([("SKU-1", row("SKU-1")), ("SKU-2", row("SKU-2"))])
    with closing(sqlite3.connect(tmp_path / "inventory.db")) as connection, connection:
        connection.execute("UPDATE stock_levels SET sku = 'bad sku!' WHERE sku = 'SKU-2'")
    rows = {r.key: r for r in target.read_keys(["SKU-1", "bad sku!"])}
    assert rows["SKU-1"].values == row("SKU-1")
    assert rows["bad sku!"].values is None
    assert "unreadable in the inventory" in (rows["bad sku!"].problem or "")


def test_the_outbox_is_in_the_services_own_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DATABASE_ENV, "sqlite:///state/inventory.db")
    assert outbox_url() == f"sqlite:///{tmp_path / 'state' / 'inventory.db'}"
    monkeypatch.delenv(DATABASE_ENV)
    assert outbox_url() == f"sqlite:///{tmp_path / '.strangler' / 'inventory.db'}"


def test_with_the_real_ledger_an_older_version_is_never_written(
    target: StockTarget, tmp_path: Path
) -> None:
    ledger = SqlLedger("inventory", "forward", echo_capability="stock")
    newer = target.apply(changes_of({"SKU-1": row("SKU-1", 20)}, seq=7), ledger=ledger)
    older = target.apply(changes_of({"SKU-1": row("SKU-1", 5)}, seq=6), ledger=ledger)
    assert (newer.written, older.written) == (1, 0)
    assert older.admission is not None
    assert older.admission.stale == ("SKU-1",)
    assert stored_rows(target)["SKU-1"] == row("SKU-1", 20)
    assert outbox_rows(tmp_path / "inventory.db") == []
