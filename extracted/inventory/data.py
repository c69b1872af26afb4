"""The inventory as the target of ``strangler data copy|verify``: stock levels in and out.

``target: extracted.inventory.data:stock`` in routes.yaml. The database is the one the
service itself uses: ``$STRANGLER_INVENTORY_DB`` (a SQLAlchemy URL; a relative SQLite path is
taken from the working directory, as by ``python -m extracted.inventory``), else its default.

Rows are the v1 stock level without ``updated_at`` (``{"sku", "on_hand", "reserved",
"available"}``): writes go through ``stock_upsert_many``, the service's own entry point for
moving data in, which stamps ``updated_at`` itself and leaves a level with the same counts
alone, so a second copy changes nothing. Reservations are not moved: the monolith keeps none
as records, only the ``reserved`` counter, which is moved.

``strangler data sync inventory`` uses it both ways: ``apply`` (the monolith's changes in, with
deletes, admitted by the sync's ledger in the same transaction) and ``read_keys`` (the current
levels of the skus the service's own outbox names, for the way back); ``outbox_url`` names the
database holding that outbox. Writes brought by a copy or a sync are not recorded in the
service's outbox: they came from the monolith and must not go back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from acl.data import Applied, Change, Key, Ledger, Rejected, Row, SourceRow, Upserted
from extracted.chassis.data import Prepared, ServiceTarget
from extracted.chassis.database import in_chunks
from extracted.inventory.adapters.database import (
    create_inventory_engine,
    current_revision,
    migrate,
)
from extracted.inventory.adapters.repository import SqlAlchemyStockRepository
from extracted.inventory.domain.model import StockLevel
from extracted.inventory.entrypoints.schema import set_stock_from_json, stock_to_json
from extracted.inventory.errors import InvalidRequest
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.services import SetStock
from extracted.inventory.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from extracted.inventory.settings import DATABASE_ENV, InventorySettings
from parallel_run.sqldb import resolve_url

# what reading a stored level raises when a value breaks the model (a row written by hand)
_UNREADABLE = (InvalidRequest, ValueError, TypeError)


def stock_row(level: StockLevel) -> dict[str, Any]:
    """A stored level as a data-move row: the v1 shape, less the service's own timestamp."""
    row = stock_to_json(level)
    del row["updated_at"]
    return row


class StockTarget(ServiceTarget):
    def __init__(self, database_url: str | None = None) -> None:
        super().__init__(
            service="inventory",
            url=InventorySettings.from_env(database_url=database_url).database_url,
            database_env=DATABASE_ENV,
            open_engine=create_inventory_engine,
            migrate=migrate,
            current_revision=current_revision,
        )

    @contextmanager
    def _reading(self) -> Iterator[SqlAlchemyStockRepository]:
        # a plain session, not a unit of work: its BEGIN IMMEDIATE would take the write lock
        # from the running service just to read
        with Session(self._engine) as session:
            yield SqlAlchemyStockRepository(session)

    def count(self) -> int:
        self._require_schema()

        def work() -> int:
            with self._reading() as stock:
                return stock.count()

        return self._guarded(work)

    def upsert(self, rows: Sequence[tuple[Key, Row]]) -> Upserted:
        self._require_schema()
        commands: list[SetStock] = []
        rejected: list[Rejected] = []
        for key, row in rows:
            command = _command(key, row)
            if isinstance(command, Rejected):
                rejected.append(command)
            else:
                commands.append(command)

        def work() -> Upserted:
            uow = SqlAlchemyUnitOfWork(self._engine, capture=False)
            results = services.stock_upsert_many(uow, commands)
            written = sum(1 for result in results if result.changed)
            return Upserted(written, len(results) - written, tuple(rejected))

        return self._guarded(work)

    def apply(self, changes: Sequence[Change], *, ledger: Ledger) -> Applied:
        return self.apply_changes(
            changes,
            ledger=ledger,
            unit_of_work=SqlAlchemyUnitOfWork,
            prepare=_command,
            write=_write_levels,
        )

    def read_keys(self, keys: Sequence[Key]) -> Sequence[SourceRow]:
        self._require_schema()

        def work() -> list[SourceRow]:
            with self._reading() as stock:
                return [row for chunk in in_chunks(keys) for row in _read_levels(stock, chunk)]

        return self._guarded(work)

    def read(self, *, after: Key | None, limit: int) -> Sequence[tuple[Key, Row]]:
        self._require_schema()

        def work() -> list[tuple[Key, Row]]:
            with self._reading() as stock:
                return [(level.sku, stock_row(level)) for level in stock.after(after, limit=limit)]

        return self._guarded(work)


def _command(key: Key, row: Row) -> SetStock | Rejected:
    try:
        return set_stock_from_json(row, sku=key)
    except InvalidRequest as exc:
        return Rejected(key, exc.field, exc.message)


def _write_levels(uow: SqlAlchemyUnitOfWork, admitted: Sequence[Prepared[SetStock]]) -> Applied:
    results = services.stock_levels_set(uow, [command for _, command in admitted if command])
    written = sum(1 for result in results if result.changed)
    deletes = [key for key, command in admitted if command is None]
    deleted = sum(1 for key in deletes if uow.stock.delete(key))
    # a delete of a level that is not there changes nothing: it is unchanged, not an error
    unchanged = len(results) - written + len(deletes) - deleted
    return Applied(written=written, unchanged=unchanged, deleted=deleted)


def _read_levels(stock: SqlAlchemyStockRepository, keys: list[Key]) -> list[SourceRow]:
    try:
        return [SourceRow(sku, stock_row(level)) for sku, level in stock.get_many(keys).items()]
    except _UNREADABLE:
        # one stored level the model refuses fails the whole chunk: read it key by key, so
        # the others still move and the bad one is reported by its sku
        rows: list[SourceRow] = []
        for key in keys:
            try:
                level = stock.get(key)
            except _UNREADABLE as exc:
                rows.append(SourceRow(key, None, problem=f"unreadable in the inventory: {exc}"))
                continue
            if level is not None:
                rows.append(SourceRow(key, stock_row(level)))
        return rows


def stock() -> StockTarget:
    """``target: extracted.inventory.data:stock`` (and ``data.sync.back.source``)."""
    return StockTarget()


def outbox_url() -> str:
    """``data.sync.back.outbox``: the URL of the database holding the inventory's outbox, its
    own (``$STRANGLER_INVENTORY_DB``; a relative SQLite path taken from the working directory,
    as the service takes it)."""
    url = InventorySettings.from_env().database_url
    return resolve_url(url, base_dir=Path.cwd()).render_as_string(hide_password=False)
