"""Read-only customer queries."""

from __future__ import annotations

from legacy_monolith.customers.models import Customer
from legacy_monolith.shop.errors import NotFound


def customer_get(customer_id: int) -> Customer:
    try:
        return Customer.objects.get(pk=customer_id)
    except Customer.DoesNotExist as exc:
        raise NotFound(f"customer {customer_id} not found") from exc


def customer_find(customer_id: int) -> Customer | None:
    return Customer.objects.filter(pk=customer_id).first()
