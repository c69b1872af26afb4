"""One unit of work per use case: a transaction around a service's repositories, committed
explicitly.

Leaving the ``with`` block without ``commit()`` rolls back. Synchronous: the HTTP layer runs
each use case in a worker thread. A service declares its repositories on a subclass of
``UnitOfWork`` and opens them in ``SqlAlchemyUnitOfWork.open_repositories``.

A use case marks what it changed (``uow.changed("stock", sku)``); ``commit()`` writes those
keys to the service's outbox in the same transaction (``outbox.py``), unless ``capture`` is
off: a sync's own apply, whose changes came from the other side and must not go back.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import ClassVar, Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from acl.data import Key
from extracted.chassis.outbox import Changes, ChangeType, write_outbox
from strangler_sync import SqlAlchemyTx


class UnitOfWork(abc.ABC):
    def __init__(self, *, capture: bool = True) -> None:
        self.capture = capture
        self.changes = Changes()

    def __enter__(self) -> Self:
        self.changes.clear()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def changed(self, aggregate: str, key: Key, change: ChangeType = "upsert") -> None:
        """``key`` of ``aggregate`` changed in this unit: ``commit()`` records it once."""
        self.changes.mark(aggregate, key, change)

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(UnitOfWork):
    """A session per ``with`` block. A service mixes it in before its own ``UnitOfWork``
    (``class SqlAlchemyUnitOfWork(chassis.SqlAlchemyUnitOfWork, UnitOfWork)``)."""

    # what a SQLite transaction starts with; None keeps the engine's own (deferred) BEGIN
    sqlite_begin: ClassVar[str | None] = None

    def __init__(
        self, engine: Engine, *, capture: bool = True, sqlite_begin: str | None = None
    ) -> None:
        super().__init__(capture=capture)
        bound = engine
        begin = sqlite_begin or self.sqlite_begin
        if begin is not None:
            bound = engine.execution_options(sqlite_begin=begin)
        self._factory = sessionmaker(bind=bound, expire_on_commit=False)
        self._session: Session | None = None

    @abc.abstractmethod
    def open_repositories(self, session: Session) -> None:
        """Set the service's repositories, all on ``session``; runs on entering the block."""

    def __enter__(self) -> Self:
        self._session = self._factory()
        self.open_repositories(self._session)
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

    def sql(self) -> SqlAlchemyTx:
        """This unit's transaction as ``acl.data.SqlTx`` (begun if not yet): what a sync's
        ledger runs on, so its checks and the service's writes commit together."""
        return SqlAlchemyTx(self._active().connection())

    def commit(self) -> None:
        session = self._active()
        if self.capture and self.changes:
            write_outbox(self.sql(), self.changes)
        self.changes.clear()
        session.commit()

    def rollback(self) -> None:
        self.changes.clear()
        self._active().rollback()

    def _active(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work used outside its with block")
        return self._session
