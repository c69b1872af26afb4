"""The deterministic, resetting ``seed`` management command."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import F

from legacy_monolith.catalog.models import Product
from legacy_monolith.customers.models import Customer
from legacy_monolith.orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db


def seed(value: int, **counts: int) -> str:
    out = io.StringIO()
    sizes = {"products": 60, "customers": 20, "orders": 40, **counts}
    args = [f"--{name}={size}" for name, size in sizes.items()]
    call_command("seed", *args, f"--seed={value}", stdout=out)
    return out.getvalue()


def snapshot() -> tuple[
    list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]
]:
    products = list(
        Product.objects.order_by("sku").values_list(
            "sku", "name", "unit_price_cents", "currency", "stock", "reserved", "active"
        )
    )
    customers = list(Customer.objects.order_by("id").values_list("id", "email", "vip"))
    lines = list(
        OrderLine.objects.order_by("id").values_list(
            "order__order_no", "order__status", "product__sku", "qty", "unit_price_cents"
        )
    )
    return products, customers, lines


def test_same_seed_gives_the_same_data_and_reseeding_resets() -> None:
    assert "seeded 60 products" in seed(42)
    first = snapshot()
    Product.objects.filter(sku="SKU-00001").update(name="Tampered")

    seed(42)

    assert snapshot() == first
    assert (Product.objects.count(), Customer.objects.count(), Order.objects.count()) == (
        60,
        20,
        40,
    )


def test_different_seed_gives_different_data() -> None:
    seed(1)
    first = snapshot()
    seed(2)
    assert snapshot()[0] != first[0]


def test_seeded_data_respects_the_shop_invariants() -> None:
    seed(7, products=120, orders=150)

    assert Product.objects.filter(sku="SKU-00001").exists()
    assert not Product.objects.filter(reserved__gt=F("stock")).exists()
    assert set(Product.objects.values_list("currency", flat=True)) <= {"EUR", "GBP", "USD"}
    assert Order.objects.get(order_no="ORD-000001")
    for order in Order.objects.prefetch_related("lines__product"):
        assert {line.product.currency for line in order.lines.all()} == {order.currency}
    open_qty = sum(
        OrderLine.objects.filter(order__status__in=["PENDING", "CONFIRMED"]).values_list(
            "qty", flat=True
        )
    )
    assert sum(Product.objects.values_list("reserved", flat=True)) == open_qty


def test_seed_creates_the_demo_login() -> None:
    seed(42, products=5, customers=2, orders=2)
    assert authenticate(username="demo", password="demo-password") is not None
