"""Row sources of ``strangler data copy|verify``: the monolith's tables, read through its ORM.

``source: legacy_monolith.data:products`` (the catalog's rows) or ``legacy_monolith.data:stock``
(the inventory's) in routes.yaml. The database is the monolith's own:
``$STRANGLER_LEGACY_DB`` (a SQLite file, as for ``python -m legacy_monolith``), read by the
shop's settings, so the copy reads exactly what the running monolith serves. Rows are read by
keyset pagination on the sku (``WHERE sku > last ORDER BY sku LIMIT n``), never OFFSET: a
resumed copy starts where the last committed batch ended, whatever changed before it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import DatabaseError

from acl.data import DataMoveError, Key, SourceRow

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from legacy_monolith.catalog.models import Product

# what Django's converters raise on a value the column's type cannot hold (a month 13)
_READ_ERRORS = (ValueError, TypeError, ArithmeticError, ValidationError)
_T = TypeVar("_T")
PRODUCT_COLUMNS = ("sku", "name", "unit_price_cents", "currency", "stock", "active", "updated_at")
STOCK_COLUMNS = ("sku", "stock", "reserved")


def setup_django() -> None:
    """Configure Django for this process unless it already is (a test run, the shop itself)."""
    from django.apps import apps

    if apps.ready:
        return
    # forced, as by ``python -m legacy_monolith``: a settings module left over in the shell
    # would point the copy at another database
    os.environ["DJANGO_SETTINGS_MODULE"] = "legacy_monolith.shop.settings"
    import django

    django.setup()


def _database_file() -> Path | None:
    from django.db import connection

    if connection.vendor != "sqlite" or connection.is_in_memory_db():  # type: ignore[attr-defined]
        return None
    return Path(str(connection.settings_dict["NAME"]))


class ProductSource:
    """The monolith's products (``catalog_product``), one legacy row of ``columns`` per sku."""

    def __init__(self, columns: Sequence[str] = PRODUCT_COLUMNS) -> None:
        self.columns = tuple(columns)
        setup_django()
        path = _database_file()
        if path is not None and not path.exists():
            # Django would create an empty file and report zero rows: say where we looked
            raise DataMoveError(
                f"the monolith's database {path} does not exist "
                "(set STRANGLER_LEGACY_DB to the shop's SQLite file)"
            )

    def _products(self) -> QuerySet[Product]:
        from legacy_monolith.catalog.models import Product

        return Product.objects.order_by("sku")

    def count(self) -> int:
        return self._guarded(lambda: self._products().count())

    def read(self, *, after: Key | None, limit: int) -> Sequence[SourceRow]:
        def batch() -> list[SourceRow]:
            query = self._products()
            if after is not None:
                query = query.filter(sku__gt=after)
            try:
                return [SourceRow(row["sku"], row) for row in query.values(*self.columns)[:limit]]
            except _READ_ERRORS:
                # one unreadable value (a month 13) fails the whole batch: read it row by row
                # so the others still move and the bad one is reported by its key
                keys = list(query.values_list("sku", flat=True)[:limit])
                return [row for row in map(self._one, keys) if row is not None]

        return self._guarded(batch)

    def _one(self, key: Key) -> SourceRow | None:
        rows = self._products().filter(sku=key).values(*self.columns)
        try:
            found: list[dict[str, Any]] = list(rows)
        except _READ_ERRORS as exc:
            return SourceRow(key, None, problem=f"unreadable in the monolith: {exc}")
        return SourceRow(key, found[0]) if found else None  # None: deleted meanwhile

    @staticmethod
    def _guarded(work: Callable[[], _T]) -> _T:
        try:
            return work()
        except DatabaseError as exc:
            where = _database_file() or "the monolith's database"
            raise DataMoveError(
                f"cannot read products from {where}: {exc} "
                "(is it the shop's database, migrated with `python -m legacy_monolith migrate`?)"
            ) from exc

    def close(self) -> None:
        from django.db import connections

        connections.close_all()


def products() -> ProductSource:
    """``source: legacy_monolith.data:products``: what the catalog takes over."""
    return ProductSource(PRODUCT_COLUMNS)


def stock() -> ProductSource:
    """``source: legacy_monolith.data:stock``: the counters the inventory takes over."""
    return ProductSource(STOCK_COLUMNS)
