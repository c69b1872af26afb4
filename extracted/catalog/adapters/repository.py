"""The product repository: an abstract port and its SQLAlchemy adapter.

The adapter maps rows of ``orm.products`` to domain objects by hand: the domain stays
frozen dataclasses that know nothing of SQLAlchemy. Its fake lives in ``catalog.testing``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from extracted.catalog.adapters.orm import products
from extracted.catalog.domain.model import Currency, Money, Product, ProductStatus
from extracted.catalog.domain.pages import ProductPage, ProductQuery
from extracted.chassis.database import in_chunks


class ProductRepository(abc.ABC):
    """Where products are kept; one instance lives inside one unit of work."""

    @abc.abstractmethod
    def get(self, sku: str) -> Product | None: ...

    @abc.abstractmethod
    def list(self, query: ProductQuery) -> ProductPage: ...

    @abc.abstractmethod
    def save(self, product: Product) -> None:
        """Insert ``product`` or replace the one with its sku."""

    @abc.abstractmethod
    def delete(self, sku: str) -> bool:
        """Remove the product of ``sku`` (a data sync: the monolith deleted it); False if none."""

    def get_many(self, skus: Iterable[str]) -> dict[str, Product]:
        """The products of ``skus`` that exist, by sku (``strangler data copy``'s batches)."""
        found = {sku: self.get(sku) for sku in skus}
        return {sku: product for sku, product in found.items() if product is not None}

    def save_many(self, batch: Sequence[Product]) -> None:
        """``save`` for each product; adapters do it in one statement."""
        for product in batch:
            self.save(product)

    @abc.abstractmethod
    def after(self, sku: str | None, *, limit: int) -> tuple[Product, ...]:
        """Up to ``limit`` products with skus above ``sku`` (all when None), in sku order:
        keyset pagination for ``strangler data verify``, never OFFSET."""


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlAlchemyProductRepository(ProductRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, sku: str) -> Product | None:
        row = self.session.execute(select(products).where(products.c.sku == sku)).first()
        return None if row is None else _product(row)

    def list(self, query: ProductQuery) -> ProductPage:
        conditions: list[ColumnElement[bool]] = []
        if query.name_contains:
            pattern = f"%{_like_escaped(query.name_contains)}%"
            conditions.append(products.c.name.ilike(pattern, escape="\\"))
        if query.currency is not None:
            conditions.append(products.c.price_currency == query.currency.value)
        where = and_(True, *conditions)
        total = self.session.execute(select(func.count()).select_from(products).where(where))
        rows = self.session.execute(
            select(products)
            .where(where)
            .order_by(products.c.sku)
            .limit(query.size)
            .offset(query.offset)
        )
        return ProductPage(
            items=tuple(_product(row) for row in rows),
            number=query.number,
            size=query.size,
            total_items=int(total.scalar_one()),
        )

    def after(self, sku: str | None, *, limit: int) -> tuple[Product, ...]:
        statement = select(products).order_by(products.c.sku).limit(limit)
        if sku is not None:
            statement = statement.where(products.c.sku > sku)
        return tuple(_product(row) for row in self.session.execute(statement))

    def save(self, product: Product) -> None:
        self.save_many([product])

    def delete(self, sku: str) -> bool:
        result = self.session.execute(products.delete().where(products.c.sku == sku))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def get_many(self, skus: Iterable[str]) -> dict[str, Product]:
        found: dict[str, Product] = {}
        for chunk in in_chunks(skus):
            rows = self.session.execute(select(products).where(products.c.sku.in_(chunk)))
            found.update((row.sku, _product(row)) for row in rows)
        return found

    def save_many(self, batch: Sequence[Product]) -> None:
        if not batch:
            return
        statement: Any
        if self.session.get_bind().dialect.name == "sqlite":
            statement = sqlite.insert(products)
        else:
            statement = postgresql.insert(products)
        statement = statement.on_conflict_do_update(
            index_elements=[products.c.sku],
            set_={c.name: statement.excluded[c.name] for c in products.c if c.name != "sku"},
        )
        # one statement, executed for many rows: built and compiled once per batch
        self.session.execute(statement, [_row(product) for product in batch])


def _row(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price_minor": product.price.minor,
        "price_currency": product.price.currency.value,
        "on_hand": product.on_hand,
        "status": product.status.value,
        "updated_at": product.updated_at,
    }


def _product(row: Row[Any]) -> Product:
    return Product(
        sku=row.sku,
        name=row.name,
        price=Money(int(row.price_minor), Currency(row.price_currency)),
        on_hand=int(row.on_hand),
        status=ProductStatus(row.status),
        updated_at=row.updated_at,
    )
