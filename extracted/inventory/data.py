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

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from acl.data import DataMoveError, Key, Rejected, Row, Upserted
from extracted.inventory.adapters.database import (
    create_inventory_engine,
    current_revision,
    migrate,
)
from extracted.inventory.adapters.orm import stock_levels
from extracted.inventory.domain.model import StockLevel
from extracted.inventory.entrypoints.schema import set_stock_from_json, stock_to_json
from extracted.inventory.errors import InvalidRequest
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.services import SetStock
from extracted.inventory.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from extracted.inventory.settings import DATABASE_ENV, InventorySettings
from parallel_run.sqldb import resolve_url

_T = TypeVar("_T")


def stock_row(level: StockLevel) -> dict[str, Any]:
    """A stored level as a data-move row: the v1 shape, less the service's own timestamp."""
    row = stock_to_json(level)
    del row["updated_at"]
    return row


class StockTarget:
    def __init__(self, database_url: str | None = None) -> None:
        self.url = InventorySettings.from_env(database_url=database_url).database_url
        self._engine = create_inventory_engine(self.url)
        self._schema_seen = False

    def _shown(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    def _guarded(self, work: Callable[[], _T]) -> _T:
        try:
            return work()
        except SQLAlchemyError as exc:
            raise DataMoveError(f"the inventory database {self._shown()}: {exc}") from exc

    def _require_schema(self) -> None:
        """Reading never creates: a database that is not there is an error, not zero rows."""
        if self._schema_seen:
            return
        parsed = resolve_url(self.url, base_dir=Path.cwd())
        missing = (
            parsed.get_backend_name() == "sqlite"
            and parsed.database not in (None, "", ":memory:")
            and not Path(str(parsed.database)).exists()
        )
        if missing or self._guarded(lambda: current_revision(self._engine)) is None:
            raise DataMoveError(
                f"the inventory database {self._shown()} has no schema yet: "
                f"`strangler data copy` creates it (check ${DATABASE_ENV})"
            )
        self._schema_seen = True

    def prepare(self) -> None:
        self._guarded(lambda: migrate(self._engine))
        self._schema_seen = True

    def count(self) -> int:
        self._require_schema()

        def work() -> int:
            with self._engine.connect() as connection:
                counted = connection.execute(select(func.count()).select_from(stock_levels))
                return int(counted.scalar_one())

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
        # a keyset read of the table; the repository has no such query (yet)
        statement = select(stock_levels).order_by(stock_levels.c.sku).limit(limit)
        if after is not None:
            statement = statement.where(stock_levels.c.sku > after)

        def work() -> list[tuple[Key, Row]]:
            with self._engine.connect() as connection:
                levels = [
                    StockLevel(r.sku, int(r.on_hand), int(r.reserved), r.updated_at)
                    for r in connection.execute(statement)
                ]
            return [(level.sku, stock_row(level)) for level in levels]

        return self._guarded(work)

    def close(self) -> None:
        self._engine.dispose()


def stock() -> StockTarget:
    """``target: extracted.inventory.data:stock``."""
    return StockTarget()
