"""The catalog as the target of ``strangler data copy|verify``: rows in, rows back out.

``target: extracted.catalog.data:products`` in routes.yaml. The database is the one the
service itself uses: ``$STRANGLER_CATALOG_DB`` (a SQLAlchemy URL; a relative SQLite path is
taken from the working directory, as by ``python -m extracted.catalog``), else its default.

Rows are the v1 product JSON (``entrypoints.schema``), validated by the catalog's own model:
a row it refuses is returned as ``Rejected`` with the field, never half-written. Writes go
through the unit of work, one transaction per batch; a row equal to the stored product
(``updated_at`` included) is not written, so a second copy changes nothing.

``strangler data sync product-catalog`` applies the monolith's changes with ``apply``: the same
rows, plus deletes, admitted by the sync's ledger in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from acl.data import Applied, Change, Key, Ledger, Rejected, Row, Upserted
from extracted.catalog.adapters.database import create_catalog_engine, current_revision, migrate
from extracted.catalog.domain.model import Product
from extracted.catalog.domain.pages import ProductQuery
from extracted.catalog.entrypoints.schema import product_to_json, upsert_from_json
from extracted.catalog.errors import InvalidProduct
from extracted.catalog.service_layer.unit_of_work import SqlAlchemyUnitOfWork, UnitOfWork
from extracted.catalog.settings import DATABASE_ENV, CatalogSettings
from extracted.chassis.data import Prepared, ServiceTarget


def product_from_row(key: Key, row: Row) -> Product:
    """A v1 product row, ``updated_at`` kept (the copy preserves it); InvalidProduct if not."""
    command = upsert_from_json(row, sku=key)
    raw = row.get("updated_at")
    try:
        if not isinstance(raw, str):
            raise ValueError("not a string")
        moment = datetime.fromisoformat(raw)
        if moment.utcoffset() is None:
            raise ValueError("no time zone")
    except ValueError as exc:
        raise InvalidProduct(
            f"updated_at must be an ISO 8601 timestamp with a zone, not {raw!r} ({exc})",
            field="updated_at",
        ) from None
    return command.to_product(updated_at=moment)


def _product(key: Key, row: Row) -> Product | Rejected:
    try:
        return product_from_row(key, row)
    except InvalidProduct as exc:
        return Rejected(key, exc.field, exc.message)


def _save_changed(uow: UnitOfWork, products: Sequence[Product]) -> int:
    """Write the products that differ from the stored ones; how many were written."""
    stored = uow.products.get_many(p.sku for p in products)
    changed = [p for p in products if stored.get(p.sku) != p]
    uow.products.save_many(changed)
    return len(changed)


def _write_products(uow: SqlAlchemyUnitOfWork, admitted: Sequence[Prepared[Product]]) -> Applied:
    products = [product for _, product in admitted if product is not None]
    written = _save_changed(uow, products)
    deletes = [key for key, product in admitted if product is None]
    deleted = sum(1 for key in deletes if uow.products.delete(key))
    # a delete of a product that is not there changes nothing: unchanged, not an error
    unchanged = len(products) - written + len(deletes) - deleted
    return Applied(written=written, unchanged=unchanged, deleted=deleted)


class ProductTarget(ServiceTarget):
    def __init__(self, database_url: str | None = None) -> None:
        super().__init__(
            service="catalog",
            url=CatalogSettings.from_env(database_url=database_url).database_url,
            database_env=DATABASE_ENV,
            open_engine=create_catalog_engine,
            migrate=migrate,
            current_revision=current_revision,
        )
        # a copy brings the monolith's rows: they are not the service's own changes
        self._uow = SqlAlchemyUnitOfWork(self._engine, capture=False)

    def count(self) -> int:
        self._require_schema()

        def work() -> int:
            with self._uow as uow:
                return uow.products.list(ProductQuery(size=1)).total_items

        return self._guarded(work)

    def upsert(self, rows: Sequence[tuple[Key, Row]]) -> Upserted:
        self._require_schema()
        products: list[Product] = []
        rejected: list[Rejected] = []
        for key, row in rows:
            product = _product(key, row)
            if isinstance(product, Rejected):
                rejected.append(product)
            else:
                products.append(product)

        def work() -> Upserted:
            with self._uow as uow:
                written = _save_changed(uow, products)
                uow.commit()
            return Upserted(written, len(products) - written, tuple(rejected))

        return self._guarded(work)

    def apply(self, changes: Sequence[Change], *, ledger: Ledger) -> Applied:
        return self.apply_changes(
            changes,
            ledger=ledger,
            unit_of_work=SqlAlchemyUnitOfWork,
            prepare=_product,
            write=_write_products,
        )

    def read(self, *, after: Key | None, limit: int) -> Sequence[tuple[Key, Row]]:
        self._require_schema()

        def work() -> list[tuple[Key, Row]]:
            with self._uow as uow:
                return [(p.sku, product_to_json(p)) for p in uow.products.after(after, limit=limit)]

        return self._guarded(work)


def products() -> ProductTarget:
    """``target: extracted.catalog.data:products``."""
    return ProductTarget()
