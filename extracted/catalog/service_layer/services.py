"""The catalog's use cases: list, get and upsert products, each in one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from extracted.catalog.domain.model import Money, Product, ProductStatus
from extracted.catalog.domain.pages import ProductPage, ProductQuery
from extracted.catalog.errors import ProductNotFound
from extracted.catalog.service_layer.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class UpsertProduct:
    """A product as a client sends it: everything but ``updated_at``, which the catalog sets."""

    sku: str
    name: str
    price: Money
    on_hand: int
    status: ProductStatus

    def __post_init__(self) -> None:
        self.to_product(updated_at=datetime(2000, 1, 1, tzinfo=UTC))  # the model's own rules

    def to_product(self, *, updated_at: datetime) -> Product:
        return Product(
            sku=self.sku,
            name=self.name,
            price=self.price,
            on_hand=self.on_hand,
            status=self.status,
            updated_at=updated_at,
        )


@dataclass(frozen=True, slots=True)
class Upserted:
    product: Product
    created: bool


def products_list(uow: UnitOfWork, query: ProductQuery) -> ProductPage:
    with uow:
        return uow.products.list(query)


def product_get(uow: UnitOfWork, sku: str) -> Product:
    with uow:
        product = uow.products.get(sku)
    if product is None:
        raise ProductNotFound(sku)
    return product


def product_upsert(uow: UnitOfWork, command: UpsertProduct, *, clock: Clock = utc_now) -> Upserted:
    """Create or replace the product. Idempotent: sending the same product again changes
    nothing, ``updated_at`` included (``strangler data copy`` may replay a copy)."""
    with uow:
        existing = uow.products.get(command.sku)
        candidate = command.to_product(updated_at=clock())
        if existing is not None and existing.same_content(candidate):
            return Upserted(existing, created=False)
        uow.products.save(candidate)
        uow.commit()
        return Upserted(candidate, created=existing is None)
