"""Order writes.

``price_order_lines`` and ``reserve_stock`` (catalog) are deliberately separate calls: they
are the seams where pricing and inventory get swapped for extracted services later.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from django.db import transaction

from legacy_monolith.catalog.selectors import products_by_sku
from legacy_monolith.catalog.services import consume_stock, release_stock, reserve_stock
from legacy_monolith.customers.models import Customer
from legacy_monolith.customers.selectors import customer_find
from legacy_monolith.orders.models import Order, OrderLine, OrderStatus, format_order_no
from legacy_monolith.seams.inventory import reservation_scope
from legacy_monolith.seams.pricing import PriceLookup, catalog_prices, monolith_prices
from legacy_monolith.shop.errors import Conflict, InvalidInput, NotFound
from strangler_django import seam

VIP_DISCOUNT_PERCENT = 5

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class LineRequest:
    sku: str
    qty: int


@dataclass(frozen=True)
class PricedLine:
    sku: str
    qty: int
    unit_price_cents: int
    line_total_cents: int
    currency: str


def vip_unit_price(list_price_cents: int) -> int:
    """List price minus the VIP discount, rounded half-up to the cent.

    Integer arithmetic on purpose: ``round()`` would round half to even (1990 -> 1890
    instead of 1891) and floats would misround some prices. Prices are never negative,
    so ``(x + 50) // 100`` is exactly half-up.
    """
    return (list_price_cents * (100 - VIP_DISCOUNT_PERCENT) + 50) // 100


def price_order_lines(lines: Sequence[LineRequest], customer: Customer) -> list[PricedLine]:
    """Price each requested line for ``customer``; pure apart from reading the catalog.

    The discount applies to the unit price (not the line total), so that
    ``lineTotal == unitPrice * qty`` always holds in the legacy API.
    Raises InvalidInput for unknown/inactive skus, qty < 1 and mixed currencies.

    Behind the ``pricing`` seam (branch by abstraction): list prices come from the monolith's
    table or from the catalog service, as routes.yaml's ``seams:`` says; the rules stay here.
    """
    return seam("pricing").run(
        legacy=lambda: _price_lines(lines, customer, monolith_prices),
        new=lambda endpoint: _price_lines(lines, customer, catalog_prices(endpoint)),
        keys={"customer": str(customer.pk)},
        clean=lambda priced: [asdict(line) for line in priced],
        call=f"price_order_lines customer {customer.pk}",
        on_failure="legacy",  # a read: the monolith's own prices are a correct answer
    )


def _price_lines(
    lines: Sequence[LineRequest], customer: Customer, lookup: PriceLookup
) -> list[PricedLine]:
    if not lines:
        raise InvalidInput("an order needs at least one line")
    products = lookup(line.sku for line in lines)
    priced: list[PricedLine] = []
    for line in lines:
        if line.qty < 1:
            raise InvalidInput(f"qty for {line.sku} must be >= 1")
        product = products.get(line.sku)
        if product is None:
            raise InvalidInput(f"unknown sku_item {line.sku}")
        if not product.active:
            raise InvalidInput(f"product {line.sku} is not sold any more")
        unit = (
            vip_unit_price(product.unit_price_cents) if customer.vip else product.unit_price_cents
        )
        priced.append(
            PricedLine(
                sku=product.sku,
                qty=line.qty,
                unit_price_cents=unit,
                line_total_cents=unit * line.qty,
                currency=product.currency,
            )
        )
    currencies = {line.currency for line in priced}
    if len(currencies) > 1:
        raise InvalidInput(f"an order cannot mix currencies ({', '.join(sorted(currencies))})")
    return priced


def place_order(*, customer_id: int, lines: Sequence[LineRequest]) -> Order:
    """Price, reserve and record an order atomically: a 409 on any line writes nothing."""
    # the scope cancels reservations an extracted inventory made if the transaction fails
    with reservation_scope(), transaction.atomic():
        customer = customer_find(customer_id)
        if customer is None:
            raise InvalidInput(f"unknown cust_id {customer_id}")
        priced = price_order_lines(lines, customer)
        products = products_by_sku(line.sku for line in priced)
        missing = sorted({line.sku for line in priced} - set(products))
        if missing:  # priced by the catalog service but unknown here: data not yet copied
            raise InvalidInput(f"unknown sku_item {missing[0]}")
        # The number comes from the primary key, unknown until the insert; the placeholder
        # only ever exists inside this transaction.
        order = Order.objects.create(
            order_no=f"NEW-{uuid.uuid4().hex}", customer=customer, currency=priced[0].currency
        )
        order.order_no = format_order_no(order.pk)
        order.save(update_fields=["order_no"])
        for line in priced:
            row = OrderLine.objects.create(
                order=order,
                product=products[line.sku],
                qty=line.qty,
                unit_price_cents=line.unit_price_cents,
                line_total_cents=line.line_total_cents,
            )
            # a 409 here rolls the whole order back; the line's key names its reservation for
            # the cancellation or shipment that settles it later
            reserve_stock(line.sku, line.qty, key=line_reservation_key(row.pk, order.created_at))
        return order


def line_reservation_key(line_pk: int, placed_at: datetime) -> str:
    """The idempotency key of an order line's reservation in the inventory service.

    The primary key alone is not enough: a rolled-back order gives its ids back to the next
    one, and the failed order's keys were cancelled in the service for good. The instant the
    order was placed (to the microsecond, as stored) tells the two apart.
    """
    return f"order-line-{line_pk}-{placed_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def _locked_order(order_no: str) -> Order:
    order = (
        Order.objects.select_for_update()
        .prefetch_related("lines__product")
        .filter(order_no=order_no)
        .first()
    )
    if order is None:
        raise NotFound(f"order {order_no} not found")
    return order


def change_order_status(order_no: str, new_status: str) -> Order:
    """Move an order along PENDING -> CONFIRMED -> SHIPPED, or to CANCELLED before shipping.

    Cancelling releases the reserved stock; shipping takes it off the shelf.
    """
    if new_status not in OrderStatus.values:
        raise InvalidInput(f"unknown status {new_status}")
    with transaction.atomic():
        order = _locked_order(order_no)
        if new_status not in ALLOWED_TRANSITIONS[order.status]:
            raise Conflict(f"order {order_no} cannot go from {order.status} to {new_status}")
        for line in order.lines.all():
            key = line_reservation_key(line.pk, order.created_at)
            if new_status == OrderStatus.CANCELLED:
                release_stock(line.product.sku, line.qty, key=key)
            elif new_status == OrderStatus.SHIPPED:
                consume_stock(line.product.sku, line.qty, key=key)
        order.status = new_status
        order.save(update_fields=["status"])
        return order


def cancel_order(order_no: str) -> Order:
    return change_order_status(order_no, OrderStatus.CANCELLED)


def delete_order(order_no: str) -> None:
    """Only cancelled orders may be purged: anything else still holds or moved stock."""
    with transaction.atomic():
        order = _locked_order(order_no)
        if order.status != OrderStatus.CANCELLED:
            raise Conflict(f"order {order_no} is {order.status}; only CANCELLED orders can go")
        order.delete()
