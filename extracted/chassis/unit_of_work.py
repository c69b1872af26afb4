"""One unit of work per use case: a transaction around a service's repositories, committed
explicitly.

Leaving the ``with`` block without ``commit()`` rolls back. Synchronous: the HTTP layer runs
each use case in a worker thread. A service declares its repositories on a subclass of
``UnitOfWork`` and opens them in ``SqlAlchemyUnitOfWork.open_repositories``.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import ClassVar, Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork(abc.ABC):
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
    """A session per ``with`` block. A service mixes it in before its own ``UnitOfWork``
    (``class SqlAlchemyUnitOfWork(chassis.SqlAlchemyUnitOfWork, UnitOfWork)``)."""

    # what a SQLite transaction starts with; None keeps the engine's own (deferred) BEGIN
    sqlite_begin: ClassVar[str | None] = None

    def __init__(self, engine: Engine) -> None:
        bound = engine
        if self.sqlite_begin is not None:
            bound = engine.execution_options(sqlite_begin=self.sqlite_begin)
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

    def commit(self) -> None:
        self._active().commit()

    def rollback(self) -> None:
        self._active().rollback()

    def _active(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work used outside its with block")
        return self._session
