"""Data-sync health kept in the result store, where every decision is made from.

A relay (``strangler data sync CAP``) writes its heartbeat, lag and counters here; ``data
verify`` records each result; ``cutover``, ``status`` and ``report`` read them without opening
the monolith's or a service's database. Tables (Alembic revision ``0005_data_sync``):

    sync_health         one row per (capability, direction, relay), upserted by its heartbeat
    sync_conflicts      one row per lost change, unique on (capability, key, loser, target_seq)
    sync_windows        per key: [captured_at, applied_at) while a change was on its way (the
                        report flags a mismatch seen inside one as possibly stale)
    data_verifications  every ``data verify``: equal or not, counts, a few examples
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from parallel_run.store import ResultStore

Direction = Literal["forward", "back"]


@dataclass(frozen=True, slots=True)
class SyncHealth:
    capability: str
    direction: Direction
    relay: str  # host:pid of the relay process
    at: datetime  # its last heartbeat (aware, UTC)
    lag_seconds: float  # age of the oldest unapplied change; 0 when none
    pending: int
    parked: int
    applied_total: int
    conflicts_total: int
    capture_state: str  # installed | missing | drifted | absent
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    capability: str
    key: str
    at: datetime
    winner: Literal["legacy", "service"]
    loser_side: Literal["legacy", "service"]
    source_seq: int
    target_seq: int


@dataclass(frozen=True, slots=True)
class SyncWindow:
    capability: str
    key: str
    captured_at: datetime
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class Verification:
    capability: str
    at: datetime
    equal: bool
    counts: Mapping[str, int]  # source, target, same, different, missing, extra, unreadable...
    examples: Sequence[Mapping[str, object]] = ()


def write_health(store: ResultStore, health: SyncHealth) -> None:
    raise NotImplementedError


def health_of(store: ResultStore, capability: str) -> tuple[SyncHealth, ...]:
    """The latest heartbeat of every relay of ``capability``, newest first."""
    raise NotImplementedError


def record_conflicts(store: ResultStore, conflicts: Sequence[ConflictRecord]) -> int:
    """Insert, ignoring ones already there; returns how many were new."""
    raise NotImplementedError


def conflicts(store: ResultStore, capability: str, *, limit: int = 20) -> list[ConflictRecord]:
    raise NotImplementedError


def record_windows(store: ResultStore, windows: Sequence[SyncWindow]) -> None:
    raise NotImplementedError


def unapplied_at(
    store: ResultStore, capability: str, keys: Sequence[str], at: datetime
) -> set[str]:
    """Those ``keys`` that had a change on its way (captured, not yet applied) at ``at``."""
    raise NotImplementedError


def record_verification(store: ResultStore, verification: Verification) -> None:
    raise NotImplementedError


def latest_verification(store: ResultStore, capability: str) -> Verification | None:
    raise NotImplementedError
