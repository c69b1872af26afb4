"""The legacy wire shapes of products and inventory, both directions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from legacy_monolith.catalog.models import Product
from legacy_monolith.catalog.services import ProductChanges
from legacy_monolith.shop.errors import InvalidInput
from legacy_monolith.shop.legacy_api import legacy_date
from legacy_monolith.shop.payload import legacy_flag, read_flag, read_int, read_str

# Skus appear in URL paths, so keep them to characters that never need escaping.
_SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def product_to_legacy(product: Product) -> dict[str, Any]:
    return {
        "sku_item": product.sku,
        "prodName": product.name,
        "unitPrice": product.unit_price_cents,
        "curr": product.currency,
        "qty_on_hand": product.stock,
        "is_active": legacy_flag(product.active),
        "last_upd": legacy_date(product.updated_at),
    }


def inventory_to_legacy(product: Product) -> dict[str, Any]:
    return {
        "sku_item": product.sku,
        "qty_on_hand": product.stock,
        "qty_reserved": product.reserved,
        "qty_avail": product.available,
    }


def product_csv_header() -> list[str]:
    return ["sku_item", "prodName", "unitPrice", "curr", "qty_on_hand", "qty_reserved", "is_active"]


def product_csv_row(product: Product) -> list[str | int]:
    return [
        product.sku,
        product.name,
        product.unit_price_cents,
        product.currency,
        product.stock,
        product.reserved,
        legacy_flag(product.active),
    ]


@dataclass(frozen=True)
class NewProduct:
    sku: str
    name: str
    unit_price_cents: int
    currency: str
    stock: int


def _read_currency(data: Mapping[str, Any]) -> str:
    value = data.get("curr")
    if not isinstance(value, str) or not _CURRENCY_RE.match(value):
        raise InvalidInput("curr must be a 3-letter upper-case currency code")
    return value


def parse_new_product(data: Mapping[str, Any]) -> NewProduct:
    sku = data.get("sku_item")
    if not isinstance(sku, str) or not _SKU_RE.match(sku):
        raise InvalidInput("sku_item must be 1-32 letters, digits, '.', '_' or '-'")
    return NewProduct(
        sku=sku,
        name=read_str(data, "prodName", max_length=200),
        unit_price_cents=read_int(data, "unitPrice", minimum=0),
        currency=_read_currency(data),
        stock=read_int(data, "qty_on_hand", minimum=0),
    )


def parse_product_changes(data: Mapping[str, Any], *, sku: str, partial: bool) -> ProductChanges:
    """PUT (``partial=False``) needs every field; PATCH takes any subset."""
    if "sku_item" in data and data["sku_item"] != sku:
        raise InvalidInput("sku_item cannot be changed")

    def wanted(key: str) -> bool:
        return not partial or key in data

    changes = ProductChanges(
        name=read_str(data, "prodName", max_length=200) if wanted("prodName") else None,
        unit_price_cents=read_int(data, "unitPrice", minimum=0) if wanted("unitPrice") else None,
        currency=_read_currency(data) if wanted("curr") else None,
        stock=read_int(data, "qty_on_hand", minimum=0) if wanted("qty_on_hand") else None,
        active=read_flag(data, "is_active") if "is_active" in data else None,
    )
    if partial and changes == ProductChanges():
        raise InvalidInput("nothing to update")
    return changes
