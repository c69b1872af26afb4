"""Fakes shipped for tests: an in-memory repository and unit of work, and a seeding helper."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine

from extracted.catalog.adapters.repository import ProductRepository
from extracted.catalog.domain.model import Product
from extracted.catalog.domain.pages import ProductPage, ProductQuery
from extracted.catalog.service_layer.unit_of_work import SqlAlchemyUnitOfWork, UnitOfWork


class FakeProductRepository(ProductRepository):
    def __init__(self, products: Iterable[Product] = ()) -> None:
        self.products = {p.sku: p for p in products}

    def get(self, sku: str) -> Product | None:
        return self.products.get(sku)

    def list(self, query: ProductQuery) -> ProductPage:
        matching = [
            p
            for sku, p in sorted(self.products.items())
            if (query.name_contains is None or query.name_contains.lower() in p.name.lower())
            and (query.currency is None or p.price.currency is query.currency)
        ]
        return ProductPage(
            items=tuple(matching[query.offset : query.offset + query.size]),
            number=query.number,
            size=query.size,
            total_items=len(matching),
        )

    def save(self, product: Product) -> None:
        self.products[product.sku] = product

    def delete(self, sku: str) -> bool:
        return self.products.pop(sku, None) is not None

    def after(self, sku: str | None, *, limit: int) -> tuple[Product, ...]:
        later = [p for key, p in sorted(self.products.items()) if sku is None or key > sku]
        return tuple(later[:limit])


class FakeUnitOfWork(UnitOfWork):
    """Shares one ``FakeProductRepository``, ``committed``; only committed saves reach it."""

    def __init__(self, products: Iterable[Product] = ()) -> None:
        super().__init__()
        self.committed = FakeProductRepository(products)
        self.commits = 0
        self._working = FakeProductRepository()
        self.products = self._working

    def __enter__(self) -> FakeUnitOfWork:
        self.rollback()
        return super().__enter__()

    def commit(self) -> None:
        self.committed.products = dict(self._working.products)
        self.commits += 1

    def rollback(self) -> None:
        self._working = FakeProductRepository(self.committed.products.values())
        self.products = self._working


def seed(uow: UnitOfWork, products: Iterable[Product]) -> None:
    """Insert ``products`` as they are, ``updated_at`` included, in one transaction."""
    with uow:
        for product in products:
            uow.products.save(product)
        uow.commit()


def seed_engine(engine: Engine, products: Iterable[Product]) -> None:
    """``seed`` straight into a migrated catalog database."""
    seed(SqlAlchemyUnitOfWork(engine), products)
