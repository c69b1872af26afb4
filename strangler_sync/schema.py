"""The sync's tables, per dialect. Names are part of the contract (docs/data.md):

strangler_outbox       captured changes; Debezium's outbox columns (id, aggregatetype,
                       aggregateid, type, payload) plus seq, captured_at, origin,
                       applied_at, parked_at
strangler_capture      one row per installed capability: its epoch and spec hash
strangler_sync_ledger  (capability, direction, key) -> (epoch, version): in the TARGET db
strangler_parked       rows that could not move: key, stage, reason, attempts
strangler_relay        the SQLite relay's lease per (capability, direction)
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

OUTBOX = "strangler_outbox"
CAPTURE = "strangler_capture"
LEDGER = "strangler_sync_ledger"
PARKED = "strangler_parked"
RELAY = "strangler_relay"


def outbox_ddl(dialect: Dialect) -> tuple[str, ...]:
    """``CREATE ... IF NOT EXISTS`` statements of the outbox and its indexes."""
    raise NotImplementedError


def sync_ddl(dialect: Dialect) -> tuple[str, ...]:
    """The capture, ledger, parked and relay tables (``IF NOT EXISTS``)."""
    raise NotImplementedError
