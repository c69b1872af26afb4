"""The v1 JSON shapes: products in and out, errors out. Pure functions, no aiohttp.

A product on the wire::

    {"sku": "SKU-00001", "name": "Oak Chair",
     "price": {"amount": "19.99", "currency": "EUR"}, "stock": {"on_hand": 12},
     "status": "active", "updated_at": "2026-11-25T09:30:00Z"}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from extracted.catalog.domain.model import Money, Product, parse_status
from extracted.catalog.domain.pages import ProductPage
from extracted.catalog.errors import InvalidProduct
from extracted.catalog.service_layer.services import UpsertProduct

_PRODUCT_FIELDS = frozenset({"sku", "name", "price", "stock", "status", "updated_at"})
_PRICE_FIELDS = frozenset({"amount", "currency"})
_STOCK_FIELDS = frozenset({"on_hand"})


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-11-25T09:30:00Z`` (microseconds if any)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def product_to_json(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price": {"amount": product.price.amount, "currency": product.price.currency.value},
        "stock": {"on_hand": product.on_hand},
        "status": product.status.value,
        "updated_at": format_datetime(product.updated_at),
    }


def page_to_json(page: ProductPage) -> dict[str, Any]:
    return {
        "items": [product_to_json(p) for p in page.items],
        "page": {"number": page.number, "size": page.size, "total_items": page.total_items},
    }


def error_json(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = dict(details)
    return {"error": error}


def _object(value: object, *, field: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidProduct(f"{field or 'body'} must be a JSON object", field=field or "body")
    for name in value:
        if name not in allowed:
            path = f"{field}.{name}" if field else str(name)
            raise InvalidProduct(f"unknown field {path!r}", field=path)
    return value


def _required(body: Mapping[str, Any], name: str, *, prefix: str = "") -> Any:
    if name not in body:
        path = f"{prefix}{name}"
        raise InvalidProduct(f"{path} is required", field=path)
    return body[name]


def upsert_from_json(body: object, *, sku: str | None = None) -> UpsertProduct:
    """The command in a PUT body. ``sku`` is the one in the path: the body's must match it or
    be absent. ``updated_at`` is accepted and ignored: the catalog sets it."""
    product = _object(body, field="", allowed=_PRODUCT_FIELDS)
    body_sku = product.get("sku", sku)
    if sku is not None and body_sku != sku:
        raise InvalidProduct(
            f"sku {body_sku!r} in the body is not {sku!r} in the path", field="sku"
        )
    if body_sku is None:
        raise InvalidProduct("sku is required", field="sku")
    price = _object(_required(product, "price"), field="price", allowed=_PRICE_FIELDS)
    stock = _object(_required(product, "stock"), field="stock", allowed=_STOCK_FIELDS)
    money = Money.parse(
        _required(price, "amount", prefix="price."), _required(price, "currency", prefix="price.")
    )
    return UpsertProduct(
        sku=body_sku,
        name=_required(product, "name"),
        price=money,
        on_hand=_required(stock, "on_hand", prefix="stock."),
        status=parse_status(_required(product, "status")),
    )
