"""The SQLite echo guard: a TEMP trigger on the applying connection only."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from strangler_sync import CapturedTable, CaptureSpec, SqlAlchemyTx, guard, install
from strangler_sync.echo import unguard
from strangler_sync.sqltx import sync_engine
from tests.unit.strangler_sync.conftest import add, run

CATALOG = CaptureSpec(
    "product-catalog", (CapturedTable("catalog_product", "sku", ("sku", "name", "stock")),)
)


def _outbox(engine: Engine) -> list[tuple[object, ...]]:
    return run(engine, "SELECT aggregatetype, aggregateid FROM strangler_outbox ORDER BY seq")


def test_the_guarded_connection_makes_no_rows_for_its_capability_only(captured: Engine) -> None:
    with captured.begin() as conn:
        install(SqlAlchemyTx(conn), CATALOG)
    with captured.connect() as guarded:
        with guarded.begin():
            guard(SqlAlchemyTx(guarded), "inventory")
            guarded.execute(
                text(
                    "INSERT INTO catalog_product (sku, name, unit_price_cents, stock)"
                    " VALUES ('A', 'a', 1, 1)"
                )
            )
        # product-catalog still captures the sync's write (a reverse stock apply must
        # still reach the catalog); inventory's own row is gone
        assert _outbox(captured) == [("product-catalog", "A")]
        add(captured, "B")  # the application's connection: captured by both
        assert sorted(_outbox(captured)[1:]) == [("inventory", "B"), ("product-catalog", "B")]
        with guarded.begin():
            guard(SqlAlchemyTx(guarded), "inventory")  # idempotent
            unguard(SqlAlchemyTx(guarded), "inventory")
            guarded.execute(text("UPDATE catalog_product SET stock = 5 WHERE sku = 'A'"))
        assert ("inventory", "A") in _outbox(captured)


def test_a_database_without_an_outbox_needs_no_guard(tmp_path: Path) -> None:
    engine = sync_engine(f"sqlite:///{tmp_path / 'plain.sqlite3'}")
    with engine.begin() as conn:
        guard(SqlAlchemyTx(conn), "inventory")
        assert SqlAlchemyTx(conn).execute("SELECT count(*) FROM sqlite_temp_master") == [(0,)]
    engine.dispose()
