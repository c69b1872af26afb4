"""The inventory as the target of ``strangler data copy|verify``: stock levels in and out.

``target: extracted.inventory.data:stock`` in routes.yaml. The database is the one the
service itself uses: ``$STRANGLER_INVENTORY_DB`` (a SQLAlchemy URL; a relative SQLite path is
taken from the working directory, as by ``python -m extracted.inventory``), else its default.

Rows are the v1 stock level without ``updated_at`` (``{"sku", "on_hand", "reserved",
"available"}``): writes go through ``stock_upsert_many``, the service's own entry point for
moving data in, which stamps ``updated_at`` itself and leaves a level with the same counts
alone, so a second copy changes nothing. Reservations are not moved: the monolith keeps none
as records, only the ``reserved`` counter, which is moved.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from acl.data import Key, Rejected, Row, Upserted
from extracted.chassis.data import ServiceTarget
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
            try:
                commands.append(set_stock_from_json(row, sku=key))
            except InvalidRequest as exc:
                rejected.append(Rejected(key, exc.field, exc.message))

        def work() -> Upserted:
            results = services.stock_upsert_many(SqlAlchemyUnitOfWork(self._engine), commands)
            written = sum(1 for result in results if result.changed)
            return Upserted(written, len(results) - written, tuple(rejected))

        return self._guarded(work)

    def read(self, *, after: Key | None, limit: int) -> Sequence[tuple[Key, Row]]:
        self._require_schema()

        def work() -> list[tuple[Key, Row]]:
            with self._reading() as stock:
                return [(level.sku, stock_row(level)) for level in stock.after(after, limit=limit)]

        return self._guarded(work)


def stock() -> StockTarget:
    """``target: extracted.inventory.data:stock``."""
    return StockTarget()
