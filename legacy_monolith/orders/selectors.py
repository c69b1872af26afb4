"""Read-only order queries; lines and their products are prefetched for serialisation."""

from __future__ import annotations

from django.db.models import QuerySet

from legacy_monolith.orders.models import Order
from legacy_monolith.shop.errors import NotFound


def _with_lines() -> QuerySet[Order]:
    return Order.objects.prefetch_related("lines__product")


def order_get(order_no: str) -> Order:
    try:
        return _with_lines().get(order_no=order_no)
    except Order.DoesNotExist as exc:
        raise NotFound(f"order {order_no} not found") from exc


def orders_for_customer(customer_id: int) -> list[Order]:
    return list(_with_lines().filter(customer_id=customer_id).order_by("created_at", "id"))
