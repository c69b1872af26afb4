"""The audit trail: a hash-chained, append-only log of routes.yaml changes in the result store.

Each record carries who (user, host), when, the capability, from and to (mode and the share the
service serves), the reason, whether a safety gate was overridden, the evidence at that moment,
the routes file's digest before and after, and where the change came from (``cli`` or
``hand-edit``). Its ``hash`` is the sha256 of a canonical JSON of all of that plus ``seq`` and
the previous record's hash (``prev_hash``), so altering a stored field, deleting a record or
reordering them breaks the chain, which ``verify()`` reports.

Appends are serialized: ``BEGIN IMMEDIATE`` on SQLite, an advisory transaction lock on
PostgreSQL, and ``prev_hash`` is unique, so two writers can never fork the chain. What a chain
cannot show by itself is its newest records being cut off: keep the head hash ``verify()``
returns somewhere else (a ticket, a CI log) to check that too (``expect_head``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, insert, select

from parallel_run.store import ResultStore, audit_log

# config-in-force: which routes.yaml a running facade, Envoy or compare service put in force
# (strangler.audit.config_in_force); it moves no capability
Source = Literal["cli", "hand-edit", "config-in-force"]
CONFIG_IN_FORCE: Source = "config-in-force"
GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""
# pg_advisory_xact_lock key: "straudi" in ASCII; distinct from the migration lock
APPEND_LOCK = 0x73747261756469


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change, as its author describes it; ``append`` chains it into an ``AuditRecord``."""

    capability: str
    from_mode: str | None
    from_percent: float | None
    to_mode: str | None
    to_percent: float | None
    source: Source
    user: str
    host: str
    reason: str | None = None
    forced: bool = False
    evidence: Mapping[str, Any] = field(default_factory=dict)
    digest_before: str | None = None
    digest_after: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored entry, with its place in the chain."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {**canonical_fields(self.seq, self.entry, self.prev_hash), "hash": self.hash}


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``verify`` found: ``ok``, or the first record that breaks the chain and why."""

    ok: bool
    records: int
    head_hash: str
    bad_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head_hash": self.head_hash,
            "bad_seq": self.bad_seq,
            "problem": self.problem,
        }


def canonical_fields(seq: int, entry: AuditEntry, prev_hash: str) -> dict[str, Any]:
    """The fields the hash covers, as JSON-ready values."""
    return {
        "seq": seq,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "user": entry.user,
        "host": entry.host,
        "capability": entry.capability,
        "from": {"mode": entry.from_mode, "percent": _percent(entry.from_percent)},
        "to": {"mode": entry.to_mode, "percent": _percent(entry.to_percent)},
        "reason": entry.reason,
        "forced": entry.forced,
        "evidence": dict(entry.evidence),
        "digest_before": entry.digest_before,
        "digest_after": entry.digest_after,
        "source": entry.source,
        "prev_hash": prev_hash,
    }


def record_hash(seq: int, entry: AuditEntry, prev_hash: str) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the record."""
    text = json.dumps(
        canonical_fields(seq, entry, prev_hash),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _percent(value: float | None) -> float | None:
    # 10 and 10.0 must hash alike: the database hands back a float either way
    return None if value is None else float(value)


def append(store: ResultStore, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
    """Chain ``entries`` after the newest record, in one transaction; returns them stored."""
    return _append(store, entries, unless_recorded=None)


def append_unrecorded(
    store: ResultStore, entries: Sequence[AuditEntry], *, digest_before: str, digest_after: str
) -> list[AuditRecord]:
    """Append ``entries`` unless the move of the routes file from ``digest_before`` to
    ``digest_after`` is already recorded: some record reached ``digest_after`` after the last
    record that reached ``digest_before``. That is how a facade tells a hand edit from a change
    the CLI recorded before writing the file, and how several workers that all saw the same
    edit record it once (the check runs under the append lock). The entries are stored with
    these two digests."""
    moved = [replace(e, digest_before=digest_before, digest_after=digest_after) for e in entries]
    return _append(store, moved, unless_recorded=(digest_before, digest_after))


def append_unless(
    store: ResultStore, entries: Sequence[AuditEntry], recorded: Callable[[Connection], bool]
) -> list[AuditRecord]:
    """Append ``entries`` unless ``recorded`` (asked under the append lock, so two writers
    cannot both find nothing) says the trail holds them already."""
    return _append(store, entries, unless=recorded)


def _append(
    store: ResultStore,
    entries: Sequence[AuditEntry],
    *,
    unless_recorded: tuple[str, str] | None = None,
    unless: Callable[[Connection], bool] | None = None,
) -> list[AuditRecord]:
    if not entries:
        return []
    options = {"sqlite_begin": "BEGIN IMMEDIATE"}  # SQLite: the write lock before the read
    with store.engine.connect().execution_options(**options) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(APPEND_LOCK)))
        if unless_recorded is not None and _recorded(connection, *unless_recorded):
            return []
        if unless is not None and unless(connection):
            return []
        head = connection.execute(
            select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        ).first()
        seq, prev_hash = (int(head.seq), str(head.hash)) if head is not None else (0, GENESIS)
        stored: list[AuditRecord] = []
        for entry in entries:
            seq += 1
            digest = record_hash(seq, entry, prev_hash)
            connection.execute(insert(audit_log).values(**_row(seq, entry, prev_hash, digest)))
            stored.append(AuditRecord(seq, entry, prev_hash, digest))
            prev_hash = digest
        return stored


def _recorded(connection: Connection, before: str, after: str) -> bool:
    since = connection.execute(
        select(func.max(audit_log.c.seq)).where(audit_log.c.digest_after == before)
    ).scalar()
    found = connection.execute(
        select(audit_log.c.seq)
        .where(and_(audit_log.c.digest_after == after, audit_log.c.seq > (since or 0)))
        .limit(1)
    ).first()
    return found is not None


def _row(seq: int, entry: AuditEntry, prev_hash: str, digest: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": entry.at,
        "user": entry.user,
        "host": entry.host,
        "capability": entry.capability,
        "from_mode": entry.from_mode,
        "from_percent": entry.from_percent,
        "to_mode": entry.to_mode,
        "to_percent": entry.to_percent,
        "reason": entry.reason,
        "forced": entry.forced,
        "evidence": dict(entry.evidence),
        "digest_before": entry.digest_before,
        "digest_after": entry.digest_after,
        "source": entry.source,
        "prev_hash": prev_hash,
        "hash": digest,
    }


def _record(row: Any) -> AuditRecord:
    entry = AuditEntry(
        capability=row.capability,
        from_mode=row.from_mode,
        from_percent=row.from_percent,
        to_mode=row.to_mode,
        to_percent=row.to_percent,
        source=row.source,
        user=row.user,
        host=row.host,
        reason=row.reason,
        forced=bool(row.forced),
        evidence=dict(row.evidence or {}),
        digest_before=row.digest_before,
        digest_after=row.digest_after,
        at=row.at,
    )
    return AuditRecord(int(row.seq), entry, str(row.prev_hash), str(row.hash))


def records(
    store: ResultStore, *, capability: str | None = None, limit: int | None = None
) -> list[AuditRecord]:
    """Stored records, newest first; ``capability`` filters, ``limit`` caps the count."""
    query = select(audit_log).order_by(audit_log.c.seq.desc())
    if capability is not None:
        query = query.where(audit_log.c.capability == capability)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as connection:
        return [_record(row) for row in connection.execute(query)]


def in_force_records(store: ResultStore, *, since: datetime) -> list[AuditRecord]:
    """The ``config-in-force`` records written at or after ``since``, newest first."""
    with store.engine.connect() as connection:
        return in_force_rows(connection, since=since)


def in_force_rows(connection: Connection, *, since: datetime) -> list[AuditRecord]:
    """``in_force_records`` on an open connection (an ``append_unless`` check)."""
    query = (
        select(audit_log)
        .where(and_(audit_log.c.source == CONFIG_IN_FORCE, audit_log.c.at >= since))
        .order_by(audit_log.c.seq.desc())
    )
    return [_record(row) for row in connection.execute(query)]


def last_states(history: Sequence[AuditRecord]) -> dict[str, tuple[str | None, float | None]]:
    """Each audited capability's (mode, served percent) after its newest record, from
    ``history`` newest first (as ``records`` returns it)."""
    states: dict[str, tuple[str | None, float | None]] = {}
    for item in history:
        if item.entry.source == CONFIG_IN_FORCE:
            continue
        states.setdefault(item.entry.capability, (item.entry.to_mode, item.entry.to_percent))
    return states


def verify(store: ResultStore, *, expect_head: str | None = None) -> Verification:
    """Walk the chain oldest first; the first record whose ``seq``, ``prev_hash`` or ``hash``
    does not follow is reported. ``expect_head``: a head hash noted earlier, which must still
    be in the chain (so cutting off the newest records shows too)."""
    expected_seq, prev_hash, count = 1, GENESIS, 0
    seen_head = expect_head is None
    query = select(audit_log).order_by(audit_log.c.seq)
    with store.engine.connect() as connection:
        for row in connection.execute(query.execution_options(yield_per=500)):
            record = _record(row)
            problem = None
            if record.seq != expected_seq:
                problem = (
                    f"record {expected_seq} is missing (the next one stored is {record.seq})"
                    if record.seq > expected_seq
                    else f"record {record.seq} is out of order"
                )
            elif record.prev_hash != prev_hash:
                problem = "its prev_hash is not the hash of the record before it"
            elif record_hash(record.seq, record.entry, record.prev_hash) != record.hash:
                problem = "its contents do not match its hash (it was altered)"
            if problem is not None:
                return Verification(False, count, prev_hash, record.seq, problem)
            count += 1
            expected_seq = record.seq + 1
            prev_hash = record.hash
            seen_head = seen_head or record.hash == expect_head
    if not seen_head:
        return Verification(
            False,
            count,
            prev_hash,
            None,
            f"the expected head {expect_head} is not in the chain (newer records were removed)",
        )
    return Verification(True, count, prev_hash)
