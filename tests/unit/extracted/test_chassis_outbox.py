"""The service-side outbox (``extracted.chassis``): a use case's changes reach the service's
``strangler_outbox`` in the same transaction as the change, once per key, and never when
capture is off (a sync's own apply: no echo). On the inventory's real migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from extracted.chassis.outbox import Changes
from extracted.inventory.adapters.database import create_inventory_engine, migrate
from extracted.inventory.domain.model import StockLevel
from extracted.inventory.errors import InsufficientStock
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.services import PlaceReservation, SetStock
from extracted.inventory.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from extracted.inventory.testing import seed_engine
from tests.support.row_targets import outbox_rows

T0 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "inventory.db"


@pytest.fixture
def engine(database: Path) -> Iterator[Engine]:
    made = create_inventory_engine(f"sqlite:///{database}")
    migrate(made)
    seed_engine(made, [StockLevel("SKU-1", 5, 0, T0), StockLevel("SKU-2", 5, 0, T0)])
    yield made
    made.dispose()


def test_a_reservation_commits_its_outbox_row_with_it(engine: Engine, database: Path) -> None:
    services.reservation_place(SqlAlchemyUnitOfWork(engine), PlaceReservation("SKU-1", 2, "k1"))
    assert outbox_rows(database) == [("stock", "SKU-1", "upsert", "app")]


def test_one_row_per_changed_key_in_a_batch(engine: Engine, database: Path) -> None:
    commands = [SetStock("SKU-2", 9), SetStock("SKU-1", 5), SetStock("SKU-3", 1)]
    services.stock_upsert_many(SqlAlchemyUnitOfWork(engine), commands)
    # SKU-1 kept its counts: nothing to carry back
    assert outbox_rows(database) == [
        ("stock", "SKU-2", "upsert", "app"),
        ("stock", "SKU-3", "upsert", "app"),
    ]


def test_a_refused_use_case_leaves_no_outbox_row(engine: Engine, database: Path) -> None:
    with pytest.raises(InsufficientStock):
        services.reservation_place(SqlAlchemyUnitOfWork(engine), PlaceReservation("SKU-1", 9, "k"))
    assert outbox_rows(database) == []


def test_a_change_whose_outbox_row_cannot_be_written_is_not_committed(
    engine: Engine, database: Path
) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE strangler_outbox"))
    with pytest.raises(SQLAlchemyError):
        services.reservation_place(SqlAlchemyUnitOfWork(engine), PlaceReservation("SKU-1", 2, "k"))
    assert services.stock_get(SqlAlchemyUnitOfWork(engine), "SKU-1").reserved == 0


def test_capture_off_writes_the_change_and_no_outbox_row(engine: Engine, database: Path) -> None:
    uow = SqlAlchemyUnitOfWork(engine, capture=False)
    services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"))
    assert services.stock_get(uow, "SKU-1").reserved == 2
    assert outbox_rows(database) == []


def test_changes_keep_one_entry_per_key_its_last_change_in_its_last_place() -> None:
    changes = Changes()
    changes.mark("stock", "a", "upsert")
    changes.mark("stock", "b", "upsert")
    changes.mark("other", "a", "delete")
    changes.mark("stock", "a", "delete")
    assert changes.by_aggregate() == {
        "stock": [("b", "upsert", None), ("a", "delete", None)],
        "other": [("a", "delete", None)],
    }
    changes.clear()
    assert not changes
