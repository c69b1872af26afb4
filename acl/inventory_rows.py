"""Rows of the ``inventory`` data move: a monolith product's stock counters <-> a stock level.

The legacy row (``legacy_monolith.data:stock``): ``{"sku", "stock", "reserved"}``, where
``stock`` counts the units on the shelf, reserved ones included. The service row is the
inventory's v1 stock level without ``updated_at``, which the service stamps itself (its
``stock_upsert_many``), so it is not part of what must be equal::

    {"sku", "on_hand", "reserved", "available"}

``stock_row_to_legacy`` is the way back (``data.sync.back.translate``): after cutover the
service's levels return to the monolith's counters, which its orders and storefront still read.
"""

from __future__ import annotations

from acl.data import Row, row_int, row_str
from acl.errors import TranslationError
from acl.inventory import StockLevel, stock_to_service


def _level(row: Row, *, on_hand: str) -> StockLevel:
    level = StockLevel(
        sku=row_str(row, "sku"),
        on_hand=row_int(row, on_hand, minimum=0),
        reserved=row_int(row, "reserved", minimum=0),
    )
    if level.reserved > level.on_hand:
        raise TranslationError(
            field="reserved", value=level.reserved, reason=f"more than on hand ({level.on_hand})"
        )
    return level


def stock_from_legacy_row(row: Row) -> StockLevel:
    return _level(row, on_hand="stock")


def stock_row_from_legacy(row: Row) -> Row:
    """``translate:`` of the inventory data move; TranslationError names the column."""
    return stock_to_service(stock_from_legacy_row(row))


def stock_row_to_legacy(row: Row) -> Row:
    """``sync.back.translate`` of the inventory: a service stock level (its ``read_keys`` row;
    ``available`` is ignored, the monolith computes it) -> the monolith's counters.
    TranslationError names the service's column."""
    level = _level(row, on_hand="on_hand")
    return {"sku": level.sku, "stock": level.on_hand, "reserved": level.reserved}
