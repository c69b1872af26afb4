"""One unit of work per use case: a transaction around the repositories, committed explicitly.

Leaving the ``with`` block without ``commit()`` rolls back. Synchronous: the HTTP layer runs
each use case in a worker thread. On SQLite every unit of work starts with ``BEGIN IMMEDIATE``:
a reservation reads, then writes, and a deferred transaction that tries to upgrade its read
lock while another writer holds the lock fails at once instead of waiting its turn.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from extracted.inventory.adapters.repository import (
    ReservationRepository,
    SqlAlchemyReservationRepository,
    SqlAlchemyStockRepository,
    StockRepository,
)


class UnitOfWork(abc.ABC):
    stock: StockRepository
    reservations: ReservationRepository

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(UnitOfWork):
    def __init__(self, engine: Engine) -> None:
        immediate = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        self._factory = sessionmaker(bind=immediate, expire_on_commit=False)
        self._session: Session | None = None

    def __enter__(self) -> Self:
        self._session = self._factory()
        self.stock = SqlAlchemyStockRepository(self._session)
        self.reservations = SqlAlchemyReservationRepository(self._session)
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        if self._session is not None:
            self._session.close()
            self._session = None

    def commit(self) -> None:
        self._active().commit()

    def rollback(self) -> None:
        self._active().rollback()

    def _active(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work used outside its with block")
        return self._session
