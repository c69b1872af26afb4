"""``acl.data.SqlTx`` over a SQLAlchemy connection inside an open transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, text

# execution option: this connection only reads (sync_engine then takes no write lock)
READ_ONLY = "strangler_sync_read_only"


class SqlAlchemyTx:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        name = connection.dialect.name
        if name not in ("sqlite", "postgresql"):
            from strangler_sync.errors import SyncError

            raise SyncError(f"data sync supports SQLite and PostgreSQL, not {name}")
        self._dialect: Literal["sqlite", "postgresql"] = name  # type: ignore[assignment]

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        return self._dialect

    @property
    def connection(self) -> Connection:
        return self._connection

    def execute(
        self, sql: str, params: Mapping[str, object] | None = None
    ) -> list[tuple[object, ...]]:
        result = self._connection.execute(text(sql), dict(params or {}))
        return [tuple(row) for row in result] if result.returns_rows else []


def sync_engine(url: str, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine for the sync's own connections (relay, installer, a reverse
    target). SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (the write lock up
    front: a read-then-write transaction cannot fail on lock upgrade) and waits up to 30 s for
    a busy database; pysqlite's own implicit transactions are off. A connection with the
    execution option ``READ_ONLY`` begins a plain (deferred) transaction instead: a read
    must not queue for the write lock the monolith's writers need. PostgreSQL: custom plans
    only (``plan_cache_mode``): the outbox and ledger start empty, and a generic plan cached
    then for a prepared statement would filter every row once they have grown."""
    if not url.startswith("sqlite"):
        options = {"options": "-c plan_cache_mode=force_custom_plan"}
        return create_engine(url, connect_args=options | kwargs.pop("connect_args", {}), **kwargs)
    connect_args = {"timeout": 30.0, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        reading = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine
