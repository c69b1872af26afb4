"""The inventory's own database: the chassis's engine (SQLite pragmas) and Alembic runner on the
inventory's packaged migrations, under its own version table."""

from __future__ import annotations

from pathlib import Path

from extracted.chassis.database import ServiceDatabase, ping

DATABASE = ServiceDatabase(
    migrations=Path(__file__).resolve().parents[1] / "migrations",
    version_table="inventory_alembic_version",  # also in migrations/env.py
    busy_timeout_ms=10000,
)
MIGRATIONS = DATABASE.migrations
VERSION_TABLE = DATABASE.version_table

create_inventory_engine = DATABASE.create_engine
migrate = DATABASE.migrate
current_revision = DATABASE.current_revision

__all__ = [
    "MIGRATIONS",
    "VERSION_TABLE",
    "create_inventory_engine",
    "current_revision",
    "migrate",
    "ping",
]
