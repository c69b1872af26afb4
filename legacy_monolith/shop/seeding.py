"""Deterministic demo data for the shop.

Re-seeding resets: catalog, customers and orders are wiped and rebuilt from the seed, so
the same arguments always give the same data (same ids, skus, prices, orders). Uploaded
files and user accounts are left alone; the demo user is created or has its password reset.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Model

from legacy_monolith.account.services import ensure_demo_user
from legacy_monolith.catalog.models import Product
from legacy_monolith.customers.models import Customer
from legacy_monolith.orders.models import Order, OrderLine, OrderStatus, format_order_no
from legacy_monolith.orders.services import vip_unit_price

# Fixed, not "now": timestamps are part of what must be reproducible.
EPOCH = datetime(2024, 1, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
SPAN_MINUTES = 2 * 365 * 24 * 60

_WOODS = ["Oak", "Walnut", "Pine", "Birch", "Teak", "Cherry", "Maple", "Ash", "Beech", "Elm"]
_STYLES = ["", "Nordic ", "Rustic ", "Compact ", "Deluxe ", "Classic ", "Folding ", "Low "]
_ITEMS = ["Chair", "Table", "Stool", "Bench", "Shelf", "Desk", "Cabinet", "Bed", "Lamp", "Sofa"]
_FIRST = ["Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Giulia", "Hugo", "Inès", "Jonas"]
_LAST = ["Martin", "Bernard", "Dubois", "Smith", "Rossi", "Müller", "Garcia", "Leroy", "Moreau"]
_CURRENCIES = ["EUR", "GBP", "USD"]
_CURRENCY_WEIGHTS = [80, 10, 10]
_STATUSES = [
    OrderStatus.PENDING,
    OrderStatus.CONFIRMED,
    OrderStatus.SHIPPED,
    OrderStatus.CANCELLED,
]
_STATUS_WEIGHTS = [30, 25, 35, 10]


@dataclass(frozen=True)
class SeedSummary:
    products: int
    customers: int
    orders: int
    order_lines: int


def _moment(rng: random.Random, after: datetime = EPOCH) -> datetime:
    return after + timedelta(minutes=rng.randrange(SPAN_MINUTES))


def _build_products(rng: random.Random, count: int) -> list[Product]:
    products = []
    for number in range(1, count + 1):
        name = f"{rng.choice(_STYLES)}{rng.choice(_WOODS)} {rng.choice(_ITEMS)}"
        products.append(
            Product(
                id=number,
                sku=f"SKU-{number:05d}",
                name=name,
                unit_price_cents=rng.randint(1, 600) * 100 + rng.choice([99, 95, 50, 0]),
                currency=rng.choices(_CURRENCIES, _CURRENCY_WEIGHTS)[0],
                stock=rng.randint(0, 250),
                reserved=0,
                active=rng.random() >= 0.05,
                created_at=_moment(rng),
            )
        )
    return products


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _build_customers(rng: random.Random, count: int) -> list[Customer]:
    customers = []
    for number in range(1, count + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        customers.append(
            Customer(
                id=number,
                full_name=f"{first} {last}",
                email=_ascii(f"{first}.{last}.{number}@example.com").lower(),
                created_at=_moment(rng),
                vip=rng.random() < 0.15,
            )
        )
    return customers


def _build_orders(
    rng: random.Random, count: int, products: list[Product], customers: list[Customer]
) -> tuple[list[Order], list[OrderLine]]:
    sellable: dict[str, list[Product]] = {}
    for product in products:
        if product.active:
            sellable.setdefault(product.currency, []).append(product)
    currencies = sorted(sellable)
    orders: list[Order] = []
    lines: list[OrderLine] = []
    if not currencies or not customers:
        return orders, lines
    for number in range(1, count + 1):
        customer = rng.choice(customers)
        currency = rng.choice(currencies)
        status = rng.choices(_STATUSES, _STATUS_WEIGHTS)[0]
        order = Order(
            id=number,
            order_no=format_order_no(number),
            customer=customer,
            status=status,
            created_at=_moment(rng, after=customer.created_at),
            currency=currency,
        )
        orders.append(order)
        pool = sellable[currency]
        for product in rng.sample(pool, k=min(len(pool), rng.randint(1, 4))):
            qty = rng.randint(1, 3)
            if status in (OrderStatus.PENDING, OrderStatus.CONFIRMED):
                # Open orders hold reservations; top up on-hand rather than break the invariant.
                if product.stock - product.reserved < qty:
                    product.stock += qty
                product.reserved += qty
            unit = (
                vip_unit_price(product.unit_price_cents)
                if customer.vip
                else product.unit_price_cents
            )
            lines.append(
                OrderLine(
                    id=len(lines) + 1,
                    order=order,
                    product=product,
                    qty=qty,
                    unit_price_cents=unit,
                    line_total_cents=unit * qty,
                )
            )
    return orders, lines


def _reset_sequences(*models: type[Model]) -> None:
    """The rows carry explicit ids; on PostgreSQL the id sequences still stand at 1, so the
    next insert without an id would collide. Django's own reset (``sqlsequencereset``): a
    ``setval`` to each table's max id; nothing on SQLite, whose rowid follows the max."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def seed_shop(*, products: int, customers: int, orders: int, seed: int) -> SeedSummary:
    rng = random.Random(seed)
    product_rows = _build_products(rng, products)
    customer_rows = _build_customers(rng, customers)
    order_rows, line_rows = _build_orders(rng, orders, product_rows, customer_rows)
    with transaction.atomic():
        OrderLine.objects.all().delete()
        Order.objects.all().delete()
        Customer.objects.all().delete()
        Product.objects.all().delete()
        Product.objects.bulk_create(product_rows)
        Customer.objects.bulk_create(customer_rows)
        Order.objects.bulk_create(order_rows)
        OrderLine.objects.bulk_create(line_rows)
        _reset_sequences(Product, Customer, Order, OrderLine)
    ensure_demo_user()
    return SeedSummary(
        products=len(product_rows),
        customers=len(customer_rows),
        orders=len(order_rows),
        order_lines=len(line_rows),
    )
