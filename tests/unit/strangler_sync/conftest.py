"""SQLite files with a product table shaped like the shop's ``catalog_product``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from strangler_sync import CapturedTable, CaptureSpec, SqlAlchemyTx, install
from strangler_sync.sqltx import sync_engine

PRODUCTS = """CREATE TABLE catalog_product (
  id INTEGER PRIMARY KEY, sku VARCHAR(32) NOT NULL UNIQUE, name VARCHAR(200) NOT NULL,
  unit_price_cents INTEGER NOT NULL, stock INTEGER NOT NULL DEFAULT 0,
  reserved INTEGER NOT NULL DEFAULT 0)"""

INVENTORY = CaptureSpec(
    "inventory", (CapturedTable("catalog_product", "sku", ("sku", "stock", "reserved")),)
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'shop.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text(PRODUCTS))
    yield engine
    engine.dispose()


@pytest.fixture
def captured(tmp_path: Path) -> Iterator[Engine]:
    """The product table with inventory's capture installed, over ``sync_engine``."""
    engine = sync_engine(f"sqlite:///{tmp_path / 'captured.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text(PRODUCTS))
        install(SqlAlchemyTx(conn), INVENTORY)
    yield engine
    engine.dispose()


def run(
    engine: Engine, sql: str, params: dict[str, object] | None = None
) -> list[tuple[object, ...]]:
    with engine.begin() as conn:
        return SqlAlchemyTx(conn).execute(sql, params)


def add(engine: Engine, *skus: str, stock: int = 1) -> None:
    for sku in skus:
        run(
            engine,
            "INSERT INTO catalog_product (sku, name, unit_price_cents, stock)"
            " VALUES (:s, :s, 1, :n)",
            {"s": sku, "n": stock},
        )
