"""Rows of the ``product-catalog`` data move: a monolith product row -> a catalog product.

The legacy row is what the monolith's table holds (``legacy_monolith.data:products`` reads it)::

    {"sku", "name", "unit_price_cents", "currency", "stock", "active", "updated_at" (aware)}

The service row is the catalog's v1 product, the shape ``catalog.products`` already speaks::

    {"sku", "name", "price": {"amount": "19.99", "currency"}, "stock": {"on_hand"},
     "status": "active"|"inactive", "updated_at": "2026-11-25T09:30:00.123456Z"}

Unlike the HTTP answer, the row keeps the full instant of ``updated_at`` (the legacy API
shows only its date), so the service's copy is exact.
"""

from __future__ import annotations

from acl.catalog import Product, minor_units, product_to_service
from acl.data import Row, row_bool, row_datetime, row_int, row_str


def product_from_legacy_row(row: Row) -> Product:
    currency = row_str(row, "currency")
    minor_units(currency, field="currency")
    return Product(
        sku=row_str(row, "sku"),
        name=row_str(row, "name"),
        price_minor=row_int(row, "unit_price_cents", minimum=0),
        currency=currency,
        on_hand=row_int(row, "stock"),
        active=row_bool(row, "active"),
        updated_at=row_datetime(row, "updated_at"),
    )


def product_row_from_legacy(row: Row) -> Row:
    """``translate:`` of the product-catalog data move; TranslationError names the column."""
    return product_to_service(product_from_legacy_row(row))
