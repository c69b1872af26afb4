"""A service's own outbox: the keys its use cases changed, written in the same transaction.

After cutover the service takes the writes while the monolith's other features still read
their own tables; ``strangler data sync CAP`` carries the service's changes back (the way
back, docs/data.md). The service says what it changed (``uow.changed("stock", sku)``) and the
unit of work writes one ``strangler_outbox`` row per key at commit, with
``strangler_sync.record()``, on the transaction's own connection: a change and its outbox row
commit together or not at all. The relay re-reads the current row by key, so the row's payload
is not needed and is left out.

A sync's own apply writes with capture off: what the sync brought must not go back (no echo).
"""

from __future__ import annotations

from typing import Literal

from acl.data import Key, Row, SqlTx
from strangler_sync import record
from strangler_sync.schema import (
    CAPTURE,
    LEDGER,
    OUTBOX,
    PARKED,
    RELAY,
    Dialect,
    outbox_ddl,
    sync_ddl,
)

ChangeType = Literal["upsert", "delete"]

# every table of the sync's contract, created by each service's sync migration
SYNC_TABLES = (OUTBOX, CAPTURE, LEDGER, PARKED, RELAY)


class Changes:
    """The keys a unit of work changed, per aggregate, each once with its last change."""

    def __init__(self) -> None:
        self._marked: dict[tuple[str, Key], ChangeType] = {}

    def mark(self, aggregate: str, key: Key, change: ChangeType) -> None:
        self._marked.pop((aggregate, key), None)  # the last change decides the order too
        self._marked[(aggregate, key)] = change

    def by_aggregate(self) -> dict[str, list[tuple[Key, ChangeType, Row | None]]]:
        grouped: dict[str, list[tuple[Key, ChangeType, Row | None]]] = {}
        for (aggregate, key), change in self._marked.items():
            grouped.setdefault(aggregate, []).append((key, change, None))
        return grouped

    def clear(self) -> None:
        self._marked.clear()

    def __bool__(self) -> bool:
        return bool(self._marked)


def write_outbox(tx: SqlTx, changes: Changes) -> None:
    """One outbox row per changed key, in ``tx`` (the unit of work's open transaction)."""
    for aggregate, rows in changes.by_aggregate().items():
        record(tx, aggregate=aggregate, changes=rows, origin="app")


def sync_tables_ddl(dialect: str) -> tuple[str, ...]:
    """What a service's sync migration runs: the outbox and the sync's other tables (the
    ledger a sync into this service keeps), as ``strangler_sync`` defines them."""
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"data sync supports SQLite and PostgreSQL, not {dialect}")
    chosen: Dialect = "sqlite" if dialect == "sqlite" else "postgresql"
    return outbox_ddl(chosen) + sync_ddl(chosen)
