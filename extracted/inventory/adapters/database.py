"""The inventory's own database: engine, SQLite pragmas, packaged Alembic migrations.

Synchronous SQLAlchemy on purpose: the HTTP handlers call it through ``asyncio.to_thread``,
never on the event loop. SQLite (WAL, busy timeout) by default, any SQLAlchemy URL by choice.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text

from parallel_run.sqldb import alembic_config, resolve_url, sqlite_engine

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
VERSION_TABLE = "inventory_alembic_version"  # also in migrations/env.py


def create_inventory_engine(url: str, *, busy_timeout_ms: int = 10000) -> Engine:
    """An engine for ``url``; for SQLite the parent directory is created and WAL is on."""
    parsed = resolve_url(url, base_dir=Path.cwd())
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    return sqlite_engine(parsed, busy_timeout_ms=busy_timeout_ms)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run the inventory's migrations up to ``revision`` on ``engine``'s database."""
    config = alembic_config(MIGRATIONS, engine.url)
    with (
        engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as connection,
        connection.begin(),
    ):
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def ping(engine: Engine) -> None:
    """Raise unless the database answers a trivial query (``/healthz``)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
