"""A service's own database: engine, SQLite pragmas, packaged Alembic migrations.

Synchronous SQLAlchemy on purpose: the HTTP handlers call it through ``asyncio.to_thread``,
never on the event loop. SQLite (WAL, busy timeout) by default, any SQLAlchemy URL by choice.
Each service keeps its migrations in its own package and its own version table, so services
can share one database server without touching each other's schema history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text

from parallel_run.sqldb import alembic_config, resolve_url, sqlite_engine


@dataclass(frozen=True, slots=True)
class ServiceDatabase:
    """One service's database: its packaged migrations, its version table, and how long a
    SQLite writer waits for the lock. Its methods are the service's database functions."""

    migrations: Path
    version_table: str
    busy_timeout_ms: int = 5000

    def create_engine(self, url: str, *, busy_timeout_ms: int | None = None) -> Engine:
        """An engine for ``url``; for SQLite the parent directory is created and WAL is on."""
        parsed = resolve_url(url, base_dir=Path.cwd())
        if parsed.get_backend_name() != "sqlite":
            return create_engine(parsed, pool_pre_ping=True)
        timeout = self.busy_timeout_ms if busy_timeout_ms is None else busy_timeout_ms
        return sqlite_engine(parsed, busy_timeout_ms=timeout)

    def migrate(self, engine: Engine, revision: str = "head") -> None:
        """Run the migrations up to ``revision`` on ``engine``'s database, holding the write
        lock: two processes starting at once cannot both create the tables."""
        config = alembic_config(self.migrations, engine.url)
        with (
            engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as connection,
            connection.begin(),
        ):
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def current_revision(self, engine: Engine) -> str | None:
        """The revision recorded in the version table; None before the first migration."""
        with engine.connect() as connection:
            opts = {"version_table": self.version_table}
            return MigrationContext.configure(connection, opts=opts).get_current_revision()


# bounded IN lists: SQLite allows only so many bound parameters in one statement
IN_CHUNK = 500


def in_chunks(keys: Iterable[str], size: int = IN_CHUNK) -> Iterator[list[str]]:
    """``keys``, distinct and sorted, in lists of at most ``size`` (one ``IN`` each)."""
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), size):
        yield wanted[start : start + size]


def ping(engine: Engine) -> None:
    """Raise unless the database answers a trivial query (``/healthz``)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
