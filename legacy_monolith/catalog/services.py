"""Catalog writes. Stock moves are guarded in SQL so concurrent requests cannot oversell."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from acl.inventory import StockLevel
from legacy_monolith.catalog.models import Product
from legacy_monolith.seams import inventory as inventory_seam
from legacy_monolith.shop.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class ProductChanges:
    """Fields to change; ``None`` means "leave as is" (PATCH semantics)."""

    name: str | None = None
    unit_price_cents: int | None = None
    currency: str | None = None
    stock: int | None = None
    active: bool | None = None


def _locked_product(sku: str) -> Product:
    # select_for_update is a no-op on SQLite (IMMEDIATE transactions serialise writers there)
    # but keeps the read-modify-write safe on a server database.
    product = Product.objects.select_for_update().filter(sku=sku).first()
    if product is None:
        raise NotFound(f"product {sku} not found")
    return product


def create_product(
    *, sku: str, name: str, unit_price_cents: int, currency: str, stock: int
) -> Product:
    try:
        with transaction.atomic():
            if Product.objects.filter(sku=sku).exists():
                raise Conflict(f"product {sku} already exists")
            return Product.objects.create(
                sku=sku,
                name=name,
                unit_price_cents=unit_price_cents,
                currency=currency,
                stock=stock,
            )
    except IntegrityError as exc:
        # Lost a race with a concurrent create of the same sku.
        raise Conflict(f"product {sku} already exists") from exc


def update_product(sku: str, changes: ProductChanges) -> Product:
    with transaction.atomic():
        product = _locked_product(sku)
        if changes.stock is not None and changes.stock < product.reserved:
            raise Conflict(
                f"qty_on_hand {changes.stock} is below the {product.reserved} units reserved"
            )
        for field, value in (
            ("name", changes.name),
            ("unit_price_cents", changes.unit_price_cents),
            ("currency", changes.currency),
            ("stock", changes.stock),
            ("active", changes.active),
        ):
            if value is not None:
                setattr(product, field, value)
        product.save()
        return product


def deactivate_product(sku: str) -> None:
    """Products are never deleted: past order lines keep pointing at them."""
    update_product(sku, ProductChanges(active=False))


def _require_positive(qty: int) -> None:
    if qty < 1:
        raise InvalidInput("qty must be >= 1")


def reserve_stock(sku: str, qty: int, *, key: str | None = None) -> StockLevel:
    """Reserve ``qty`` units of ``sku`` or raise Conflict, leaving stock untouched.

    Behind the ``inventory`` seam (branch by abstraction): the monolith's table, the
    inventory service, or both as an experiment, as routes.yaml's ``seams:`` says. ``key``
    names the reservation in the service (see ``orders.services.line_reservation_key``).
    """
    _require_positive(qty)
    return inventory_seam.reserve(
        sku, qty, key=key, legacy=lambda: _stock_level(_reserve_in_tables(sku, qty))
    )


def _stock_level(product: Product) -> StockLevel:
    return StockLevel(product.sku, product.stock, product.reserved)


def _reserve_in_tables(sku: str, qty: int) -> Product:
    """The legacy reservation. The guard ``stock >= reserved + qty`` is evaluated by the
    UPDATE itself, so two concurrent reservations can never both pass a check made on stale
    values."""
    with transaction.atomic():
        product = _locked_product(sku)
        updated = Product.objects.filter(pk=product.pk, stock__gte=F("reserved") + qty).update(
            reserved=F("reserved") + qty, updated_at=timezone.now()
        )
        product.refresh_from_db()
        if not updated:
            raise Conflict(
                f"insufficient stock for {sku}: requested {qty}, available {product.available}"
            )
        return product


def release_stock(sku: str, qty: int, *, key: str | None = None) -> StockLevel:
    """Give back a reservation (order cancelled); with the reservation's ``key``, behind the
    ``inventory`` seam."""
    _require_positive(qty)

    def legacy() -> StockLevel:
        return _stock_level(_release_in_tables(sku, qty))

    return legacy() if key is None else inventory_seam.release(sku, qty, key=key, legacy=legacy)


def _release_in_tables(sku: str, qty: int) -> Product:
    with transaction.atomic():
        product = _locked_product(sku)
        updated = Product.objects.filter(pk=product.pk, reserved__gte=qty).update(
            reserved=F("reserved") - qty, updated_at=timezone.now()
        )
        if not updated:
            raise Conflict(f"cannot release {qty} units of {sku}: only {product.reserved} reserved")
        product.refresh_from_db()
        return product


def consume_stock(sku: str, qty: int, *, key: str | None = None) -> StockLevel:
    """Turn a reservation into goods gone (order shipped): on-hand and reserved both drop.
    With the reservation's ``key``, behind the ``inventory`` seam."""
    _require_positive(qty)

    def legacy() -> StockLevel:
        return _stock_level(_consume_in_tables(sku, qty))

    return legacy() if key is None else inventory_seam.consume(sku, qty, key=key, legacy=legacy)


def _consume_in_tables(sku: str, qty: int) -> Product:
    with transaction.atomic():
        product = _locked_product(sku)
        updated = Product.objects.filter(pk=product.pk, reserved__gte=qty).update(
            stock=F("stock") - qty, reserved=F("reserved") - qty, updated_at=timezone.now()
        )
        if not updated:
            raise Conflict(f"cannot ship {qty} units of {sku}: only {product.reserved} reserved")
        product.refresh_from_db()
        return product
