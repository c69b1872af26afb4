"""Checks of a service's own SQLite database, read from outside the running service."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine

from extracted.chassis.outbox import SYNC_TABLES


def sqlite_tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        tables = {row[0] for row in rows}
    connection.close()
    return tables


def _the_services_own(name: str | None, type_: str, _parents: object) -> bool:
    # the data sync's tables are strangler_sync's contract, created by its DDL, not the model's
    return not (type_ == "table" and name in SYNC_TABLES)


def assert_migrations_match_the_models(
    database: Path, *, version_table: str, metadata: MetaData
) -> None:
    """The schema the migrations built is the one the ORM tables describe, not a column off
    (the data sync's tables aside)."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            opts = {"version_table": version_table, "include_name": _the_services_own}
            context = MigrationContext.configure(connection, opts=opts)
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
