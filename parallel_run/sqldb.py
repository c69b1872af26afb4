"""SQL plumbing shared by every database of the project: the result store here, and each
extracted service's own database (``extracted`` may use ``parallel_run``; the reverse never).

- ``resolve_url``: a relative SQLite path is taken from a base directory;
- ``sqlite_engine``: WAL, busy timeout, foreign keys, and a ``BEGIN`` that migrations can make
  ``BEGIN IMMEDIATE`` so two starting processes cannot both create the tables;
- ``alembic_config`` and ``run_alembic_env``: packaged Alembic migrations, no alembic.ini;
- ``UTCDateTime``: a column type that stores and returns aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import Connection, DateTime, Dialect, Engine, TypeDecorator, create_engine, event
from sqlalchemy.engine import URL, make_url


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: only aware UTC datetimes are stored")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_url(url: str, *, base_dir: Path | None = None) -> URL:
    """The SQLAlchemy URL; a relative SQLite path is taken from ``base_dir`` when given."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        parsed = parsed.set(database=str(path))
    return parsed


def sqlite_engine(url: URL, *, busy_timeout_ms: int) -> Engine:
    """A SQLite engine (parent directory created) in WAL mode, with a busy timeout."""
    database = url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # the driver's own transaction handling is off: SQLAlchemy's "begin" below emits BEGIN
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
        # migrations take the write lock up front, so two openers cannot both create tables
        begin = connection.get_execution_options().get("sqlite_begin", "BEGIN")
        connection.exec_driver_sql(begin)

    return engine


def alembic_config(script_location: Path, url: str | URL) -> Config:
    """An Alembic ``Config`` for migrations packaged at ``script_location``."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    rendered = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def run_alembic_env(version_table: str) -> None:
    """The body of a packaged ``migrations/env.py``.

    The caller passes its own connection in ``config.attributes["connection"]`` (already in a
    transaction, holding whatever migration lock it takes); from the ``alembic`` command line
    the URL in ``sqlalchemy.url`` is used instead.
    """
    from alembic import context

    config = context.config
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            version_table=version_table,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=None,
            version_table=version_table,
            # SQLite cannot ALTER most things: batch mode copies the table instead
            render_as_batch=connection.dialect.name == "sqlite",
            transactional_ddl=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as own:
            run(own)
    finally:
        engine.dispose()
