"""The legacy wire shape of a customer."""

from __future__ import annotations

from typing import Any

from legacy_monolith.customers.models import Customer
from legacy_monolith.shop.legacy_api import legacy_date
from legacy_monolith.shop.payload import legacy_flag


def customer_to_legacy(customer: Customer) -> dict[str, Any]:
    return {
        "cust_id": customer.pk,
        "fullName": customer.full_name,
        "email_addr": customer.email,
        "since": legacy_date(customer.created_at),
        "vip_flag": legacy_flag(customer.vip),
    }
