"""SQLite files with a product table shaped like the shop's ``catalog_product``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from strangler_sync import CapturedTable, CaptureSpec

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
