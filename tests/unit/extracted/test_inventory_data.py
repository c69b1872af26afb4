"""The inventory as a data-move target, on a real SQLite file: counters upserted once, the
service's own timestamp, refusals by its model, keyset reads, and a database not there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extracted.inventory.data import StockTarget, stock
from extracted.inventory.settings import DATABASE_ENV
from tests.support.row_targets import (
    assert_reading_an_absent_database_creates_nothing,
    assert_the_plugin_opens_the_database_named_by,
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
