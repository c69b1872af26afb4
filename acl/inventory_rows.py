"""Rows of the ``inventory`` data move: a monolith product's stock counters -> a stock level.

The legacy row (``legacy_monolith.data:stock``): ``{"sku", "stock", "reserved"}``, where
``stock`` counts the units on the shelf, reserved ones included. The service row is the
inventory's v1 stock level without ``updated_at``, which the service stamps itself (its
``stock_upsert_many``), so it is not part of what must be equal::

    {"sku", "on_hand", "reserved", "available"}
"""

from __future__ import annotations

from acl.data import Row, row_int, row_str
from acl.errors import TranslationError
from acl.inventory import StockLevel, stock_to_service


def stock_from_legacy_row(row: Row) -> StockLevel:
    level = StockLevel(
        sku=row_str(row, "sku"),
        on_hand=row_int(row, "stock", minimum=0),
        reserved=row_int(row, "reserved", minimum=0),
    )
    if level.reserved > level.on_hand:
        raise TranslationError(
            field="reserved", value=level.reserved, reason=f"more than on hand ({level.on_hand})"
        )
    return level


def stock_row_from_legacy(row: Row) -> Row:
    """``translate:`` of the inventory data move; TranslationError names the column."""
    return stock_to_service(stock_from_legacy_row(row))
