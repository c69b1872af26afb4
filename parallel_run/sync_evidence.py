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
from typing import Any, Literal, cast

from sqlalchemy import Connection, and_, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from parallel_run.store import (
    ResultStore,
    data_verifications,
    sync_conflicts,
    sync_health,
    sync_windows,
)

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


# keys per IN (...) list: far below SQLite's and PostgreSQL's bound-parameter limits
KEY_CHUNK = 500
EXAMPLES_KEPT = 20  # a verification keeps this many example rows: enough to start looking


def write_health(store: ResultStore, health: SyncHealth) -> None:
    """Upsert ``health`` as its relay's latest heartbeat (one row per capability, direction,
    relay): the table stays as small as the number of relays, however often they beat."""
    values = {
        "capability": health.capability,
        "direction": health.direction,
        "relay": health.relay,
        "at": health.at,
        "lag_seconds": health.lag_seconds,
        "pending": health.pending,
        "parked": health.parked,
        "applied_total": health.applied_total,
        "conflicts_total": health.conflicts_total,
        "capture_state": health.capture_state,
        "last_error": health.last_error,
    }
    with store.engine.begin() as connection:
        statement = _upsert(connection, sync_health).values(**values)
        keys = ("capability", "direction", "relay")
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=list(keys),
                set_={name: statement.excluded[name] for name in values if name not in keys},
            )
        )


def health_of(store: ResultStore, capability: str) -> tuple[SyncHealth, ...]:
    """The latest heartbeat of every relay of ``capability``, newest first."""
    query = (
        select(sync_health)
        .where(sync_health.c.capability == capability)
        .order_by(sync_health.c.at.desc(), sync_health.c.direction, sync_health.c.relay)
    )
    with store.engine.connect() as connection:
        return tuple(
            SyncHealth(
                capability=row.capability,
                direction=cast(Direction, row.direction),
                relay=row.relay,
                at=row.at,
                lag_seconds=float(row.lag_seconds),
                pending=int(row.pending),
                parked=int(row.parked),
                applied_total=int(row.applied_total),
                conflicts_total=int(row.conflicts_total),
                capture_state=row.capture_state,
                last_error=row.last_error,
            )
            for row in connection.execute(query)
        )


def record_conflicts(store: ResultStore, conflicts: Sequence[ConflictRecord]) -> int:
    """Insert, ignoring ones already there; returns how many were new."""
    if not conflicts:
        return 0
    new = 0
    with store.engine.begin() as connection:
        for conflict in conflicts:
            statement = _upsert(connection, sync_conflicts).values(
                capability=conflict.capability,
                key=conflict.key,
                at=conflict.at,
                winner=conflict.winner,
                loser_side=conflict.loser_side,
                source_seq=conflict.source_seq,
                target_seq=conflict.target_seq,
            )
            # RETURNING, not rowcount: psycopg reports -1 for a skipped ON CONFLICT insert
            inserted = statement.on_conflict_do_nothing().returning(sync_conflicts.c.id)
            new += len(connection.execute(inserted).all())
    return new


def conflicts(store: ResultStore, capability: str, *, limit: int = 20) -> list[ConflictRecord]:
    """The newest ``limit`` conflicts of ``capability``, newest first."""
    query = (
        select(sync_conflicts)
        .where(sync_conflicts.c.capability == capability)
        .order_by(sync_conflicts.c.at.desc(), sync_conflicts.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as connection:
        return [
            ConflictRecord(
                capability=row.capability,
                key=row.key,
                at=row.at,
                winner=row.winner,
                loser_side=row.loser_side,
                source_seq=int(row.source_seq),
                target_seq=int(row.target_seq),
            )
            for row in connection.execute(query)
        ]


def record_windows(store: ResultStore, windows: Sequence[SyncWindow]) -> None:
    """Store the windows in one transaction; they are pruned with the store's retention
    (``ResultStore.purge_expired``)."""
    rows = [
        {
            "capability": w.capability,
            "key": w.key,
            "captured_at": w.captured_at,
            "applied_at": w.applied_at,
        }
        for w in windows
    ]
    if rows:
        with store.engine.begin() as connection:
            connection.execute(insert(sync_windows), rows)


def unapplied_at(
    store: ResultStore, capability: str, keys: Sequence[str], at: datetime
) -> set[str]:
    """Those ``keys`` that had a change on its way (captured, not yet applied) at ``at``."""
    found: set[str] = set()
    unique = sorted(set(keys))
    with store.engine.connect() as connection:
        for start in range(0, len(unique), KEY_CHUNK):
            query = (
                select(sync_windows.c.key)
                .distinct()
                .where(
                    sync_windows.c.capability == capability,
                    sync_windows.c.key.in_(unique[start : start + KEY_CHUNK]),
                    _covers(at),
                )
            )
            found.update(connection.scalars(query))
    return found


def lag_at(store: ResultStore, capability: str, at: datetime) -> float | None:
    """The capability's sync lag at ``at`` as its windows show it: the age then of the oldest
    change captured and not yet applied; 0.0 when none was on its way, None when the store
    holds no window of ``capability`` at all (no relay recorded any; nothing to say)."""
    with store.engine.connect() as connection:
        oldest: datetime | None = connection.scalar(
            select(func.min(sync_windows.c.captured_at)).where(
                sync_windows.c.capability == capability, _covers(at)
            )
        )
        if oldest is not None:
            return max(0.0, (at - oldest).total_seconds())
        any_window = connection.scalar(
            select(sync_windows.c.id).where(sync_windows.c.capability == capability).limit(1)
        )
    return None if any_window is None else 0.0


def record_verification(store: ResultStore, verification: Verification) -> None:
    """Store one ``data verify`` result (its first ``EXAMPLES_KEPT`` examples)."""
    with store.engine.begin() as connection:
        connection.execute(
            insert(data_verifications).values(
                capability=verification.capability,
                at=verification.at,
                equal=verification.equal,
                counts={name: int(n) for name, n in verification.counts.items()},
                examples=[dict(e) for e in verification.examples[:EXAMPLES_KEPT]],
            )
        )


def latest_verification(store: ResultStore, capability: str) -> Verification | None:
    """The newest ``data verify`` of ``capability``; None when none was recorded."""
    query = (
        select(data_verifications)
        .where(data_verifications.c.capability == capability)
        .order_by(data_verifications.c.at.desc(), data_verifications.c.id.desc())
        .limit(1)
    )
    with store.engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return Verification(
        capability=row.capability,
        at=row.at,
        equal=bool(row.equal),
        counts={str(name): int(n) for name, n in (row.counts or {}).items()},
        examples=tuple(row.examples or ()),
    )


def _covers(at: datetime) -> Any:
    return and_(sync_windows.c.captured_at <= at, sync_windows.c.applied_at > at)


def _upsert(connection: Connection, table: Any) -> Any:
    """The dialect's INSERT with ON CONFLICT (``open()`` accepts only these two)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"no upsert for {connection.dialect.name}")  # pragma: no cover
