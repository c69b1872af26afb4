"""The inventory's unit of work: the chassis's transaction around its repositories.

Leaving the ``with`` block without ``commit()`` rolls back. Synchronous: the HTTP layer runs
each use case in a worker thread. On SQLite every unit of work starts with ``BEGIN IMMEDIATE``:
a reservation reads, then writes, and a deferred transaction that tries to upgrade its read
lock while another writer holds the lock fails at once instead of waiting its turn.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from extracted.chassis import unit_of_work as chassis
from extracted.inventory.adapters.repository import (
    ReservationRepository,
    SqlAlchemyReservationRepository,
    SqlAlchemyStockRepository,
    StockRepository,
)


class UnitOfWork(chassis.UnitOfWork):
    stock: StockRepository
    reservations: ReservationRepository


class SqlAlchemyUnitOfWork(chassis.SqlAlchemyUnitOfWork, UnitOfWork):
    sqlite_begin = "BEGIN IMMEDIATE"

    def open_repositories(self, session: Session) -> None:
        self.stock = SqlAlchemyStockRepository(session)
        self.reservations = SqlAlchemyReservationRepository(session)
