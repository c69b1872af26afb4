"""The legacy wire shapes of orders, both directions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from legacy_monolith.orders.models import Order
from legacy_monolith.orders.services import LineRequest
from legacy_monolith.shop.errors import InvalidInput
from legacy_monolith.shop.legacy_api import legacy_date
from legacy_monolith.shop.payload import read_int, read_str

MAX_LINES = 100


def order_to_legacy(order: Order) -> dict[str, Any]:
    lines = [
        {
            "sku_item": line.product.sku,
            "qty": line.qty,
            "unitPrice": line.unit_price_cents,
            "lineTotal": line.line_total_cents,
        }
        for line in order.lines.all()
    ]
    return {
        "order_no": order.order_no,
        "cust_id": order.customer_id,
        "status": order.status,
        "order_date": legacy_date(order.created_at),
        "curr": order.currency,
        "lines": lines,
        "orderTotal": sum(line["lineTotal"] for line in lines),
    }


def parse_new_order(data: Mapping[str, Any]) -> tuple[int, list[LineRequest]]:
    customer_id = read_int(data, "cust_id", minimum=1)
    raw_lines = data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise InvalidInput("lines must be a non-empty list")
    if len(raw_lines) > MAX_LINES:
        raise InvalidInput(f"an order has at most {MAX_LINES} lines")
    lines: list[LineRequest] = []
    for raw in raw_lines:
        if not isinstance(raw, dict):
            raise InvalidInput("each line must be an object with sku_item and qty")
        lines.append(
            LineRequest(
                sku=read_str(raw, "sku_item", max_length=32), qty=read_int(raw, "qty", minimum=1)
            )
        )
    return customer_id, lines


def parse_status_change(data: Mapping[str, Any]) -> str:
    return read_str(data, "status", max_length=16).upper()
