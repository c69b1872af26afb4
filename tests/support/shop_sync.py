"""The demo shop's capture, as its plugins build it (``legacy_monolith.data:product_capture``,
``stock_capture``), without setting up Django in the test process."""

from __future__ import annotations

from sqlalchemy import Connection

from legacy_monolith.data import PRODUCT_COLUMNS, STOCK_COLUMNS
from strangler_sync import CapturedTable, CaptureSpec, SqlAlchemyTx, install

# tests/unit/legacy_monolith/test_sync_capture.py checks the plugins give these same specs
SHOP_SPECS = (
    CaptureSpec("product-catalog", (CapturedTable("catalog_product", "sku", PRODUCT_COLUMNS),)),
    CaptureSpec("inventory", (CapturedTable("catalog_product", "sku", STOCK_COLUMNS),)),
)


def install_shop_capture(connection: Connection) -> None:
    """Both capabilities' capture on the shop's database, in ``connection``'s transaction."""
    for spec in SHOP_SPECS:
        install(SqlAlchemyTx(connection), spec)
