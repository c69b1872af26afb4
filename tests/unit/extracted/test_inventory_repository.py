"""The unit-of-work API a data move uses, on a real migrated SQLite file and on the fake:
batch upserts that a replay leaves alone, and keyset pages that read every level once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extracted.inventory.adapters.database import create_inventory_engine, migrate
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.services import SetStock
from extracted.inventory.service_layer.unit_of_work import SqlAlchemyUnitOfWork, UnitOfWork
from extracted.inventory.testing import FakeUnitOfWork

T0 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "fake"])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWork]:
    if request.param == "fake":
        yield FakeUnitOfWork()
        return
    engine = create_inventory_engine(f"sqlite:///{tmp_path / 'inventory.db'}")
    migrate(engine)
    yield SqlAlchemyUnitOfWork(engine)
    engine.dispose()


def test_a_batch_upsert_then_its_replay(uow: UnitOfWork) -> None:
    batch = [SetStock(f"SKU-{n:02d}", n * 10, n) for n in range(7, 0, -1)]
    first = services.stock_upsert_many(uow, batch, clock=lambda: T0)
    assert [(r.created, r.changed) for r in first] == [(True, True)] * 7
    replay = services.stock_upsert_many(uow, batch, clock=lambda: T0)
    assert [(r.created, r.changed) for r in replay] == [(False, False)] * 7
    changed = services.stock_upsert_many(uow, [SetStock("SKU-03", 31, 3)], clock=lambda: T0)
    assert [(r.created, r.changed) for r in changed] == [(False, True)]


def test_keyset_pages_read_every_level_once_in_sku_order(uow: UnitOfWork) -> None:
    services.stock_upsert_many(
        uow, [SetStock(f"SKU-{n:02d}", n, 0) for n in (5, 1, 4, 2, 3)], clock=lambda: T0
    )
    seen: list[str] = []
    after: str | None = None
    with uow:
        assert uow.stock.count() == 5
        while page := uow.stock.after(after, limit=2):
            seen += [level.sku for level in page]
            after = page[-1].sku
    assert seen == ["SKU-01", "SKU-02", "SKU-03", "SKU-04", "SKU-05"]
