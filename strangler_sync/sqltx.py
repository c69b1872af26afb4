"""``acl.data.SqlTx`` over a SQLAlchemy connection inside an open transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from sqlalchemy import Connection, text


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
