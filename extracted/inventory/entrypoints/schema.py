"""The v1 JSON shapes: stock levels and reservations out, commands in, errors out. Pure.

A stock level::

    {"sku": "SKU-00001", "on_hand": 12, "reserved": 2, "available": 10,
     "updated_at": "2026-11-25T09:30:00Z"}

A reservation (``POST /v1/stock/{sku}/reservations``, ``DELETE .../reservations/{key}``)::

    {"reservation": {"idempotency_key": "b1c7...", "sku": "SKU-00001", "quantity": 2,
                     "status": "held" | "cancelled", "created_at": "...", "updated_at": "..."},
     "stock": {...the stock level after it...}}

An error: ``{"error": {"code": "insufficient_stock", "message": "...", "details": {...}}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from extracted.inventory.domain.model import Reservation, StockLevel
from extracted.inventory.errors import InvalidRequest
from extracted.inventory.service_layer.services import PlaceReservation, Reserved, SetStock

_RESERVATION_FIELDS = frozenset({"quantity", "idempotency_key"})
_STOCK_FIELDS = frozenset({"sku", "on_hand", "reserved", "available", "updated_at"})


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-11-25T09:30:00Z`` (microseconds if any)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stock_to_json(level: StockLevel) -> dict[str, Any]:
    return {
        "sku": level.sku,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
        "updated_at": format_datetime(level.updated_at),
    }


def reservation_to_json(reservation: Reservation) -> dict[str, Any]:
    return {
        "idempotency_key": reservation.key,
        "sku": reservation.sku,
        "quantity": reservation.quantity,
        "status": reservation.status.value,
        "created_at": format_datetime(reservation.created_at),
        "updated_at": format_datetime(reservation.updated_at),
    }


def reserved_to_json(result: Reserved) -> dict[str, Any]:
    return {
        "reservation": reservation_to_json(result.reservation),
        "stock": stock_to_json(result.level),
    }


def error_json(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = dict(details)
    return {"error": error}


def _object(value: object, *, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest("the body must be a JSON object", field="body")
    for name in value:
        if name not in allowed:
            raise InvalidRequest(f"unknown field {name!r}", field=str(name))
    return value


def _required(body: Mapping[str, Any], name: str) -> Any:
    if name not in body:
        raise InvalidRequest(f"{name} is required", field=name)
    return body[name]


def reservation_from_json(body: object, *, sku: str) -> PlaceReservation:
    """The command in a reservation POST body ``{"quantity": 2, "idempotency_key": "..."}``."""
    fields = _object(body, allowed=_RESERVATION_FIELDS)
    quantity = _required(fields, "quantity")
    if type(quantity) is not int or quantity < 1:
        raise InvalidRequest(
            f"quantity must be a positive integer, not {quantity!r}", field="quantity"
        )
    key = _required(fields, "idempotency_key")
    return PlaceReservation(sku=sku, quantity=quantity, key=key)


def set_stock_from_json(body: object, *, sku: str | None = None) -> SetStock:
    """A stock level in a PUT body or a seed file; ``available`` and ``updated_at`` are
    accepted and ignored (the service computes them); the body's sku must match the path's."""
    fields = _object(body, allowed=_STOCK_FIELDS)
    body_sku = fields.get("sku", sku)
    if sku is not None and body_sku != sku:
        message = f"sku {body_sku!r} in the body is not {sku!r} in the path"
        raise InvalidRequest(message, field="sku")
    if body_sku is None:
        raise InvalidRequest("sku is required", field="sku")
    return SetStock(
        sku=body_sku,
        on_hand=_required(fields, "on_hand"),
        reserved=fields.get("reserved", 0),
    )
