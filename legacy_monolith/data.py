"""The monolith's data plugins: rows for ``strangler data copy|verify``, and both ends of
``strangler data sync`` on its side.

``source: legacy_monolith.data:products`` (the catalog's rows) or ``legacy_monolith.data:stock``
(the inventory's) in routes.yaml. The database is the monolith's own:
``$STRANGLER_LEGACY_DB`` (a SQLite file, as for ``python -m legacy_monolith``), or
``$STRANGLER_LEGACY_DATABASE_URL`` (PostgreSQL), read by the shop's settings, so the copy reads
exactly what the running monolith serves. Rows are read by keyset pagination on the sku
(``WHERE sku > last ORDER BY sku LIMIT n``), never OFFSET: a resumed copy starts where the
last committed batch ended, whatever changed before it.

For ``strangler data sync``:

- ``read_keys`` (the current rows of the skus the capture names: the relay's state transfer);
- ``product_capture`` / ``stock_capture`` (``data.sync.capture``): which table and columns the
  capture triggers cover, from the shop's ``STRANGLER_CAPTURE`` (``capture_spec`` on the
  ``Product`` model), and the database URL;
- ``stock_writer`` (``data.sync.back.target``): the inventory's levels written back into the
  product counters after cutover, so orders, the storefront and a rollback find them current.
  It runs in the relay's process and opens the SQLite file itself, not through Django: the
  sync's echo guard is a TEMP trigger on the applying connection, which must write nothing but
  sync applies.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import DatabaseError
from sqlalchemy import Connection, Engine, bindparam, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from acl.data import (
    Applied,
    Change,
    DataMoveError,
    Key,
    Ledger,
    Rejected,
    SourceRow,
    row_int,
    row_str,
)
from acl.errors import TranslationError
from legacy_monolith.shop.settings import legacy_database_url
from strangler_sync import Capture, SqlAlchemyTx, sync_engine

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from legacy_monolith.catalog.models import Product

# what Django's converters raise on a value the column's type cannot hold (a month 13)
_READ_ERRORS = (ValueError, TypeError, ArithmeticError, ValidationError)
_T = TypeVar("_T")
PRODUCT_COLUMNS = ("sku", "name", "unit_price_cents", "currency", "stock", "active", "updated_at")
STOCK_COLUMNS = ("sku", "stock", "reserved")
IN_CHUNK = 500  # keys per IN list: SQLite allows only so many bound parameters


def _chunks(keys: Iterable[Key]) -> list[list[Key]]:
    wanted = sorted(set(keys))
    return [wanted[start : start + IN_CHUNK] for start in range(0, len(wanted), IN_CHUNK)]


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
            return self._rows(query[:limit])

        return self._guarded(batch)

    def read_keys(self, keys: Sequence[Key]) -> Sequence[SourceRow]:
        """The current rows of ``keys`` (``SyncSource``): one query per 500 keys; a key
        without a row is gone."""

        def batch() -> list[SourceRow]:
            products = self._products()
            chunks = (products.filter(sku__in=chunk) for chunk in _chunks(keys))
            return [row for query in chunks for row in self._rows(query)]

        return self._guarded(batch)

    def _rows(self, query: QuerySet[Product]) -> list[SourceRow]:
        try:
            return [SourceRow(row["sku"], row) for row in query.values(*self.columns)]
        except _READ_ERRORS:
            # one unreadable value (a month 13) fails the whole batch: read it row by row
            # so the others still move and the bad one is reported by its key
            keys = list(query.values_list("sku", flat=True))
            return [row for row in map(self._one, keys) if row is not None]

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


# -- data sync ---------------------------------------------------------------------------


def _capture(capability: str) -> Capture:
    setup_django()
    from strangler_django.capture import configured  # needs the app registry: after setup

    return Capture(configured([capability])[capability].spec, legacy_database_url())


def product_capture() -> Capture:
    """``data.sync.capture`` of product-catalog: ``catalog_product``'s catalog columns."""
    return _capture("product-catalog")


def stock_capture() -> Capture:
    """``data.sync.capture`` of inventory: ``catalog_product``'s counters only, so a price
    edit makes no inventory change."""
    return _capture("inventory")


_KNOWN_SKUS = text("SELECT sku FROM catalog_product WHERE sku IN :keys").bindparams(
    bindparam("keys", expanding=True)
)
_UPDATE_STOCK = text(
    "UPDATE catalog_product SET stock = :stock, reserved = :reserved, updated_at = :at "
    "WHERE sku = :sku AND (stock <> :stock OR reserved <> :reserved)"
)


class StockWriter:
    """``data.sync.back.target`` of inventory: the service's levels (as
    ``acl.inventory_rows.stock_row_to_legacy`` makes them) into ``catalog_product``'s counters.

    A delete is refused: the inventory never deletes the monolith's products (the relay parks
    it, for a person to look at). So is a sku the monolith has no product for, and counters it
    would refuse (``reserved`` above ``stock``), each before the ledger sees it, so its version
    stays where it was."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or legacy_database_url()
        self._sqlite = make_url(self.url).get_backend_name() == "sqlite"
        # the sync's own engine: on SQLite every transaction takes the write lock at BEGIN,
        # which the ledger's compare-and-set needs, and waits for the shop's writers
        self._engine: Engine = sync_engine(self.url)
        # what messages show: this one travels into the relay's last_error, its heartbeat,
        # `strangler status`, `data status` and the gate's text, so never with the password
        self.shown_url = make_url(self.url).render_as_string(hide_password=True)

    def apply(self, changes: Sequence[Change], *, ledger: Ledger) -> Applied:
        ready: list[Change] = []
        rejected: list[Rejected] = []
        for change in changes:
            refusal = _refusal(change)
            if refusal is None:
                ready.append(change)
            else:
                rejected.append(refusal)
        self._require_database()
        try:
            with self._engine.begin() as conn:
                return self._apply(conn, ready, rejected, ledger=ledger)
        except SQLAlchemyError as exc:
            raise DataMoveError(
                f"cannot write stock to the monolith's database {self.shown_url}: {exc} "
                "(is capture installed? strangler data capture inventory)"
            ) from exc

    def _require_database(self) -> None:
        # connecting would create an empty file: say where we looked instead
        path = make_url(self.url).database if self._sqlite else None
        if path and path != ":memory:" and not Path(path).exists():
            raise DataMoveError(
                f"the monolith's database {path} does not exist "
                "(set STRANGLER_LEGACY_DB to the shop's SQLite file)"
            )

    def _apply(
        self, conn: Connection, ready: list[Change], rejected: list[Rejected], *, ledger: Ledger
    ) -> Applied:
        # read before the ledger (under the same write lock): a sku with no product is refused
        # without moving its version, so it applies once the product exists
        known = {
            row[0]
            for chunk in _chunks(c.key for c in ready)
            for row in conn.execute(_KNOWN_SKUS, {"keys": chunk})
        }
        unknown = "the monolith has no product of this sku"
        rejected += [Rejected(c.key, "sku", unknown) for c in ready if c.key not in known]
        admission = ledger.admit(SqlAlchemyTx(conn), [c for c in ready if c.key in known])
        now = datetime.now(UTC)
        # the monolith's own writes stamp updated_at too; in SQLite Django stores UTC text
        at: object = now.replace(tzinfo=None).isoformat(sep=" ") if self._sqlite else now
        written = 0
        for change in admission.write:
            row = change.row or {}  # never empty: deletes were refused above
            values = {"stock": row["stock"], "reserved": row["reserved"], "at": at}
            written += conn.execute(_UPDATE_STOCK, {"sku": change.key, **values}).rowcount
        return Applied(
            written=written,
            unchanged=len(admission.write) - written,
            rejected=tuple(rejected),
            admission=admission,
        )

    def close(self) -> None:
        self._engine.dispose()


def _refusal(change: Change) -> Rejected | None:
    if change.row is None:
        reason = "the inventory never deletes a product of the monolith: delete it there"
        return Rejected(change.key, "(row)", reason)
    try:
        if row_str(change.row, "sku") != change.key:
            return Rejected(change.key, "sku", f"the row's sku is not {change.key!r}")
        stock = row_int(change.row, "stock", minimum=0)
        if row_int(change.row, "reserved", minimum=0) > stock:
            return Rejected(change.key, "reserved", f"more than in stock ({stock})")
    except TranslationError as exc:
        return Rejected(change.key, exc.field, exc.reason)
    return None


def stock_writer() -> StockWriter:
    """``data.sync.back.target: legacy_monolith.data:stock_writer``."""
    return StockWriter()
