"""Checks of a service's own SQLite database, read from outside the running service."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine


def sqlite_tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        tables = {row[0] for row in rows}
    connection.close()
    return tables


def assert_migrations_match_the_models(
    database: Path, *, version_table: str, metadata: MetaData
) -> None:
    """The schema the migrations built is the one the ORM tables describe, not a column off."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": version_table})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
