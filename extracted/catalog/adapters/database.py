"""The catalog's own database: engine, SQLite pragmas, packaged Alembic migrations.

Synchronous SQLAlchemy on purpose: the HTTP handlers call it through ``asyncio.to_thread``,
never on the event loop. SQLite (WAL, busy timeout) by default, any SQLAlchemy URL by choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
VERSION_TABLE = "catalog_alembic_version"  # also in migrations/env.py


def resolve_url(url: str, *, base_dir: Path | None = None) -> URL:
    """The SQLAlchemy URL; a relative SQLite path is taken from ``base_dir`` (default: cwd)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        parsed = parsed.set(database=str(path))
    return parsed


def create_catalog_engine(url: str, *, busy_timeout_ms: int = 5000) -> Engine:
    """An engine for ``url``; for SQLite the parent directory is created and WAL is on."""
    parsed = resolve_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    database = parsed.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # the driver's own transaction handling is off: the "begin" hook below emits BEGIN
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # migrations take the write lock up front, so two starting processes cannot both
        # create the tables
        begin = connection.get_execution_options().get("sqlite_begin", "BEGIN")
        connection.exec_driver_sql(begin)

    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic ``Config`` for the packaged migrations: no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    rendered = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run the catalog's migrations up to ``revision`` on ``engine``'s database."""
    config = alembic_config(engine)
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
