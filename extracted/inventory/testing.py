"""Fakes shipped for tests: in-memory repositories and unit of work, and a seeding helper."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine

from extracted.inventory.adapters.repository import ReservationRepository, StockRepository
from extracted.inventory.domain.model import Reservation, ReservationStatus, StockLevel
from extracted.inventory.service_layer.unit_of_work import SqlAlchemyUnitOfWork, UnitOfWork


class FakeStockRepository(StockRepository):
    def __init__(self, levels: Iterable[StockLevel] = ()) -> None:
        self.levels = {level.sku: level for level in levels}

    def get(self, sku: str) -> StockLevel | None:
        return self.levels.get(sku)

    def get_many(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        return {sku: self.levels[sku] for sku in skus if sku in self.levels}

    def after(self, sku: str | None, *, limit: int) -> list[StockLevel]:
        ordered = [self.levels[k] for k in sorted(self.levels) if sku is None or k > sku]
        return ordered[:limit]

    def count(self) -> int:
        return len(self.levels)

    def save(self, level: StockLevel) -> None:
        self.levels[level.sku] = level

    def delete(self, sku: str) -> bool:
        return self.levels.pop(sku, None) is not None

    def hold(self, sku: str, quantity: int, *, at: datetime) -> bool:
        level = self.levels.get(sku)
        if level is None or level.available < quantity:
            return False
        self.levels[sku] = dataclasses.replace(
            level, reserved=level.reserved + quantity, updated_at=at
        )
        return True

    def unhold(self, sku: str, quantity: int, *, at: datetime) -> None:
        level = self.levels.get(sku)
        if level is not None and level.reserved >= quantity:
            self.levels[sku] = dataclasses.replace(
                level, reserved=level.reserved - quantity, updated_at=at
            )

    def ship(self, sku: str, quantity: int, *, at: datetime) -> bool:
        level = self.levels.get(sku)
        if level is None or level.reserved < quantity:
            return False
        self.levels[sku] = level.ship(quantity, at=at)
        return True


class FakeReservationRepository(ReservationRepository):
    def __init__(self, reservations: Iterable[Reservation] = ()) -> None:
        self.reservations = {r.key: r for r in reservations}

    def get(self, key: str) -> Reservation | None:
        return self.reservations.get(key)

    def add(self, reservation: Reservation) -> None:
        if reservation.key in self.reservations:
            raise KeyError(f"duplicate idempotency key {reservation.key!r}")
        self.reservations[reservation.key] = reservation

    def set_status(self, key: str, status: ReservationStatus, *, at: datetime) -> None:
        self.reservations[key] = dataclasses.replace(
            self.reservations[key], status=status, updated_at=at
        )


class FakeUnitOfWork(UnitOfWork):
    """Committed state in ``committed_stock`` / ``committed_reservations``; only a commit
    copies the working state there, and the outbox rows it would write to ``outbox``."""

    def __init__(self, levels: Iterable[StockLevel] = (), *, capture: bool = True) -> None:
        super().__init__(capture=capture)
        self.outbox: list[tuple[str, str, str]] = []  # (aggregate, key, change), committed
        self.committed_stock = FakeStockRepository(levels)
        self.committed_reservations = FakeReservationRepository()
        self.commits = 0
        self.rollback()

    def __enter__(self) -> FakeUnitOfWork:
        self.rollback()
        return super().__enter__()

    def commit(self) -> None:
        if self.capture:
            for aggregate, rows in self.changes.by_aggregate().items():
                self.outbox += [(aggregate, key, change) for key, change, _ in rows]
        self.changes.clear()
        self.committed_stock.levels = dict(self.stock.levels)  # type: ignore[attr-defined]
        self.committed_reservations.reservations = dict(
            self.reservations.reservations  # type: ignore[attr-defined]
        )
        self.commits += 1

    def rollback(self) -> None:
        self.changes.clear()
        self.stock = FakeStockRepository(self.committed_stock.levels.values())
        self.reservations = FakeReservationRepository(
            self.committed_reservations.reservations.values()
        )


def seed(uow: UnitOfWork, levels: Iterable[StockLevel]) -> None:
    """Insert ``levels`` as they are, ``updated_at`` included, in one transaction."""
    with uow:
        for level in levels:
            uow.stock.save(level)
        uow.commit()


def seed_engine(engine: Engine, levels: Iterable[StockLevel]) -> None:
    """``seed`` straight into a migrated inventory database."""
    seed(SqlAlchemyUnitOfWork(engine), levels)
