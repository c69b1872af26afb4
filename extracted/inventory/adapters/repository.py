"""Stock levels and reservations: abstract ports and their SQLAlchemy adapters.

Rows are mapped to domain objects by hand: the domain stays frozen dataclasses that know
nothing of SQLAlchemy. The fakes live in ``inventory.testing``.

``hold`` is the one write that must never oversell: its ``UPDATE`` carries the guard
``on_hand - reserved >= quantity`` itself, so two concurrent reservations cannot both pass a
check made on values one of them already changed (any database, any isolation level).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from extracted.chassis.database import in_chunks
from extracted.inventory.adapters.orm import reservations, stock_levels
from extracted.inventory.domain.model import Reservation, ReservationStatus, StockLevel


class StockRepository(abc.ABC):
    """Where stock levels are kept; one instance lives inside one unit of work."""

    @abc.abstractmethod
    def get(self, sku: str) -> StockLevel | None: ...

    @abc.abstractmethod
    def get_many(self, skus: Iterable[str]) -> dict[str, StockLevel]: ...

    @abc.abstractmethod
    def after(self, sku: str | None, *, limit: int) -> list[StockLevel]:
        """Up to ``limit`` levels with a sku after ``sku`` (from the first if None), in sku
        order: a keyset page, stable while rows are added (data verification reads them all)."""

    @abc.abstractmethod
    def count(self) -> int: ...

    @abc.abstractmethod
    def save(self, level: StockLevel) -> None:
        """Insert ``level`` or replace the one with its sku."""

    def save_many(self, levels: Sequence[StockLevel]) -> None:
        """``save`` for each level, in order; adapters do it in one statement."""
        for level in levels:
            self.save(level)

    @abc.abstractmethod
    def delete(self, sku: str) -> bool:
        """Remove the level of ``sku`` (a data sync: the product is gone); False if none."""

    @abc.abstractmethod
    def hold(self, sku: str, quantity: int, *, at: datetime) -> bool:
        """Reserve ``quantity`` more units if that many are available; False if not."""

    @abc.abstractmethod
    def unhold(self, sku: str, quantity: int, *, at: datetime) -> None:
        """Give back ``quantity`` reserved units (never below zero)."""

    @abc.abstractmethod
    def ship(self, sku: str, quantity: int, *, at: datetime) -> bool:
        """Take ``quantity`` reserved units off the shelf; False if fewer are reserved."""


class ReservationRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, key: str) -> Reservation | None: ...

    @abc.abstractmethod
    def add(self, reservation: Reservation) -> None: ...

    @abc.abstractmethod
    def set_status(self, key: str, status: ReservationStatus, *, at: datetime) -> None: ...


def _upsert(session: Session) -> Any:
    """INSERT ... ON CONFLICT (sku) DO UPDATE of a level, for one row or many."""
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    statement = dialect.insert(stock_levels)
    return statement.on_conflict_do_update(
        index_elements=[stock_levels.c.sku],
        set_={name: statement.excluded[name] for name in ("on_hand", "reserved", "updated_at")},
    )


def _values(level: StockLevel) -> dict[str, Any]:
    return {
        "sku": level.sku,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "updated_at": level.updated_at,
    }


class SqlAlchemyStockRepository(StockRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, sku: str) -> StockLevel | None:
        row = self.session.execute(select(stock_levels).where(stock_levels.c.sku == sku)).first()
        return None if row is None else _level(row)

    def get_many(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        found: dict[str, StockLevel] = {}
        for chunk in in_chunks(skus):
            rows = self.session.execute(select(stock_levels).where(stock_levels.c.sku.in_(chunk)))
            found.update((row.sku, _level(row)) for row in rows)
        return found

    def after(self, sku: str | None, *, limit: int) -> list[StockLevel]:
        query = select(stock_levels).order_by(stock_levels.c.sku).limit(limit)
        if sku is not None:
            query = query.where(stock_levels.c.sku > sku)
        return [_level(row) for row in self.session.execute(query)]

    def count(self) -> int:
        return int(
            self.session.execute(select(func.count()).select_from(stock_levels)).scalar_one()
        )

    def save(self, level: StockLevel) -> None:
        self.save_many([level])

    def save_many(self, levels: Sequence[StockLevel]) -> None:
        if levels:
            # one statement, executed for many rows: built and compiled once per batch
            self.session.execute(_upsert(self.session), [_values(level) for level in levels])

    def delete(self, sku: str) -> bool:
        result = self.session.execute(stock_levels.delete().where(stock_levels.c.sku == sku))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def hold(self, sku: str, quantity: int, *, at: datetime) -> bool:
        result = self.session.execute(
            update(stock_levels)
            .where(
                stock_levels.c.sku == sku,
                stock_levels.c.on_hand - stock_levels.c.reserved >= quantity,
            )
            .values(reserved=stock_levels.c.reserved + quantity, updated_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def unhold(self, sku: str, quantity: int, *, at: datetime) -> None:
        self.session.execute(
            update(stock_levels)
            .where(stock_levels.c.sku == sku, stock_levels.c.reserved >= quantity)
            .values(reserved=stock_levels.c.reserved - quantity, updated_at=at)
        )

    def ship(self, sku: str, quantity: int, *, at: datetime) -> bool:
        result = self.session.execute(
            update(stock_levels)
            .where(stock_levels.c.sku == sku, stock_levels.c.reserved >= quantity)
            .values(
                on_hand=stock_levels.c.on_hand - quantity,
                reserved=stock_levels.c.reserved - quantity,
                updated_at=at,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class SqlAlchemyReservationRepository(ReservationRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> Reservation | None:
        row = self.session.execute(
            select(reservations).where(reservations.c.idempotency_key == key)
        ).first()
        return None if row is None else _reservation(row)

    def add(self, reservation: Reservation) -> None:
        self.session.execute(
            reservations.insert().values(
                idempotency_key=reservation.key,
                sku=reservation.sku,
                quantity=reservation.quantity,
                status=reservation.status.value,
                created_at=reservation.created_at,
                updated_at=reservation.updated_at,
            )
        )

    def set_status(self, key: str, status: ReservationStatus, *, at: datetime) -> None:
        self.session.execute(
            update(reservations)
            .where(reservations.c.idempotency_key == key)
            .values(status=status.value, updated_at=at)
        )


def _level(row: Row[Any]) -> StockLevel:
    return StockLevel(
        sku=row.sku,
        on_hand=int(row.on_hand),
        reserved=int(row.reserved),
        updated_at=row.updated_at,
    )


def _reservation(row: Row[Any]) -> Reservation:
    return Reservation(
        key=row.idempotency_key,
        sku=row.sku,
        quantity=int(row.quantity),
        status=ReservationStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
