"""The result store: parallel-run observations, match tallies, noise and drop counts
(SQLAlchemy 2).

Synchronous on purpose: it runs in the ``Recorder``'s writer thread and in reports, never on
the event loop. SQLite (WAL) by default, PostgreSQL by URL; several facade processes may share
one PostgreSQL store (noise counts are merged with an atomic upsert, migrations run under an
advisory lock).

Every record is redacted and its bodies truncated in ``write()``, before anything reaches the
database. A comparison that matched is evidence by its count and latencies only: the recorder
may store matches as per-minute ``match_tallies`` (a count and two latency histograms) instead
of one row each, and every read below adds the tallies in. Mismatches and candidate errors
beyond the examples kept per signature (``parallel_run.sampling``) are ``mismatch_tallies``
the same way, and each experiment's rows may take at most ``max_bytes`` of the store: past it a
record is counted in the tallies and in ``example_drops`` instead of stored, so counts, rates
and the evidence gate stay exact while the store stays bounded. Schema changes are Alembic
revisions under ``parallel_run/migrations``, run to head by ``ResultStore.open()``: an upgrade
keeps the recorded evidence.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    extract,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

from parallel_run.latency import LatencyHistogram
from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.sqldb import UTCDateTime, alembic_config, resolve_url, sqlite_engine
from parallel_run.store_settings import (
    DEFAULT_BODY_LIMIT,
    DEFAULT_MAX_BYTES,
    DEFAULT_RETENTION_SECONDS,
    StoreSettings,
)
from parallel_run.tallies import SIGNATURE_LENGTH, TallyKey
from parallel_run.tallies import MatchTally as MatchTally  # re-exported: the store's rows
from parallel_run.tallies import MismatchTally as MismatchTally
from parallel_run.tallies import NoiseCount as NoiseCount
from parallel_run.tallies import minute_of as minute_of

log = logging.getLogger("strangler.parallel_run.store")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# what a row costs besides its variable parts (ids, numbers, timestamps, index entries): an
# estimate, so the cap is about the store file and not only the bodies in it
ROW_OVERHEAD = 512
ROW_COST_REVISION = "0004"  # the revision that added observations.stored_bytes
# pg_advisory_xact_lock key: "strangler" in ASCII, so concurrent openers migrate one at a time
MIGRATION_LOCK = 0x737472616E676C
VERSION_TABLE = "parallel_run_alembic_version"  # also in migrations/env.py


metadata = MetaData()

# mirrors migrations/versions/*; a test checks that the migrated schema matches it
observations = Table(
    "observations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment", String(200), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("route", String(500), nullable=False),
    Column("method", String(16), nullable=False),
    Column("path", Text(), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("control_status", Integer(), nullable=True),
    Column("candidate_status", Integer(), nullable=True),
    Column("control_ms", Float(), nullable=True),
    Column("candidate_ms", Float(), nullable=True),
    Column("control_error", Text(), nullable=True),
    Column("candidate_error", Text(), nullable=True),
    Column("differences", JSON(), nullable=False),
    Column("noise", JSON(), nullable=False),
    Column("signature", String(SIGNATURE_LENGTH), nullable=False),
    Column("control_headers", JSON(), nullable=False),
    Column("candidate_headers", JSON(), nullable=False),
    Column("control_body", LargeBinary(), nullable=True),
    Column("candidate_body", LargeBinary(), nullable=True),
    Column("control_body_size", Integer(), nullable=True),
    Column("candidate_body_size", Integer(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("run_id", String(64), nullable=True),
    # what the row costs in the store (``_row_bytes``): summed per experiment against max_bytes
    Column("stored_bytes", BigInteger(), nullable=True),
    Index("ix_observations_experiment_created_at", "experiment", "created_at"),
    Index("ix_observations_signature", "signature"),
    Index("ix_observations_run_id", "run_id"),
    Index("ix_observations_created_at", "created_at"),
)

noise_counts = Table(
    "noise_counts",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("experiment", String(200), nullable=False),
    Column("route", String(500), nullable=False),
    Column("template_path", String(500), nullable=False),
    Column("twin_samples", BigInteger(), nullable=False, server_default="0"),
    Column("twin_diffs", BigInteger(), nullable=False, server_default="0"),
    Column("samples", BigInteger(), nullable=False, server_default="0"),
    Column("diffs", BigInteger(), nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint(
        "experiment", "route", "template_path", name="uq_noise_counts_experiment_route_path"
    ),
)

drops = Table(
    "drops",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("experiment", String(200), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("count", Integer(), nullable=False),
    Index("ix_drops_experiment_at", "experiment", "at"),
)

# the hash-chained change log of routes.yaml (parallel_run.audit reads and appends it)
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer(), primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("user", String(200), nullable=False),
    Column("host", String(255), nullable=False),
    Column("capability", String(200), nullable=False),
    Column("from_mode", String(16), nullable=True),
    Column("from_percent", Float(), nullable=True),
    Column("to_mode", String(16), nullable=True),
    Column("to_percent", Float(), nullable=True),
    Column("reason", Text(), nullable=True),
    Column("forced", Boolean(), nullable=False),
    Column("evidence", JSON(), nullable=False),
    Column("digest_before", String(64), nullable=True),
    Column("digest_after", String(64), nullable=True),
    Column("source", String(16), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
    Index("ix_audit_log_capability_seq", "capability", "seq"),
    Index("ix_audit_log_digest_after", "digest_after"),
)

match_tallies = Table(
    "match_tallies",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("experiment", String(200), nullable=False),
    Column("route", String(500), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("minute", UTCDateTime(), nullable=False),  # the start of the minute counted
    Column("count", BigInteger(), nullable=False),
    Column("control_ms", JSON(), nullable=False),  # LatencyHistogram.to_json()
    Column("candidate_ms", JSON(), nullable=False),
    Index("ix_match_tallies_experiment_minute", "experiment", "minute"),
    Index("ix_match_tallies_run_id", "run_id"),
)

# comparisons that did not match and were counted without a row of their own: beyond the
# examples kept per signature (``parallel_run.sampling``), or with the experiment's share of the
# store full. Like match tallies, a count and two latency histograms, per minute and per
# (outcome, signature, candidate error, shape); ``shape`` keeps the differences' template paths
# and kinds, never their values.
mismatch_tallies = Table(
    "mismatch_tallies",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("experiment", String(200), nullable=False),
    Column("route", String(500), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("minute", UTCDateTime(), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("signature", String(SIGNATURE_LENGTH), nullable=False),
    Column("candidate_error", Text(), nullable=True),
    Column("shape", JSON(), nullable=False),  # [[template_path, kind], ...]
    Column("count", BigInteger(), nullable=False),
    Column("control_ms", JSON(), nullable=False),
    Column("candidate_ms", JSON(), nullable=False),
    Index("ix_mismatch_tallies_experiment_minute", "experiment", "minute"),
    Index("ix_mismatch_tallies_run_id", "run_id"),
)

# examples (whole observation rows) not stored because their experiment's share of the store
# (``max_bytes``) was full; each one is still counted in ``mismatch_tallies`` or ``match_tallies``
example_drops = Table(
    "example_drops",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("experiment", String(200), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("count", BigInteger(), nullable=False),
    Index("ix_example_drops_experiment_at", "experiment", "at"),
)

# data sync (``parallel_run.sync_evidence``): what the relays and ``data verify`` report, read
# by ``cutover``, ``status`` and ``report``. The latest heartbeat of each relay process:
sync_health = Table(
    "sync_health",
    metadata,
    Column("capability", String(200), primary_key=True),
    Column("direction", String(16), primary_key=True),
    Column("relay", String(255), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("lag_seconds", Float(), nullable=False),
    Column("pending", BigInteger(), nullable=False),
    Column("parked", BigInteger(), nullable=False),
    Column("applied_total", BigInteger(), nullable=False),
    Column("conflicts_total", BigInteger(), nullable=False),
    Column("capture_state", String(32), nullable=False),
    Column("last_error", Text(), nullable=True),
)

# one row per lost change: both relays may see it, it counts once
sync_conflicts = Table(
    "sync_conflicts",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("capability", String(200), nullable=False),
    Column("key", String(255), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("winner", String(16), nullable=False),
    Column("loser_side", String(16), nullable=False),
    Column("source_seq", BigInteger(), nullable=False),
    Column("target_seq", BigInteger(), nullable=False),
    UniqueConstraint(
        "capability", "key", "loser_side", "target_seq", name="uq_sync_conflicts_lost_change"
    ),
    Index("ix_sync_conflicts_capability_at", "capability", "at"),
)

# [captured_at, applied_at) of a key's change: the report's "possibly stale" and lag history
sync_windows = Table(
    "sync_windows",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("capability", String(200), nullable=False),
    Column("key", String(255), nullable=False),
    Column("captured_at", UTCDateTime(), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
    Index("ix_sync_windows_capability_key_captured_at", "capability", "key", "captured_at"),
    Index("ix_sync_windows_applied_at", "applied_at"),
)

data_verifications = Table(
    "data_verifications",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("capability", String(200), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("equal", Boolean(), nullable=False),
    Column("counts", JSON(), nullable=False),
    Column("examples", JSON(), nullable=False),
    Index("ix_data_verifications_capability_at", "capability", "at"),
)

# requests per monolith endpoint per minute (``parallel_run.endpoint_traffic``): the migration
# map's traffic. Rows are only ever added, by each facade process for the minutes it counted;
# reads sum them, so replicas and restarts merge by addition.
endpoint_tallies = Table(
    "endpoint_tallies",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("minute", UTCDateTime(), nullable=False),
    Column("endpoint", String(500), nullable=False),  # the inventory's key, or "(unknown)"
    Column("method", String(16), nullable=False),
    Column("capability", String(200), nullable=False),  # "" when no capability matched
    Column("served_by", String(200), nullable=False),  # "legacy" or the service's name
    Column("count", BigInteger(), nullable=False),
    Index("ix_endpoint_tallies_minute", "minute"),
    Index("ix_endpoint_tallies_capability_minute", "capability", "minute"),
)

_COUNTERS = ("twin_samples", "twin_diffs", "samples", "diffs")
# endpoint tallies older than this are kept one row per hour and key, not per minute: the map
# reads 30 days of them, at most 720 rows a key instead of 43,200
ENDPOINT_ROLLUP_AGE = timedelta(days=2)
_ENDPOINT_KEY = ("endpoint", "method", "capability", "served_by")


def roll_up_endpoint_tallies(connection: Connection, before: datetime) -> int:
    """Replace the per-minute endpoint tallies before ``before`` by one row per hour and key
    (at the hour's start), in ``connection``'s transaction; returns the rows removed.

    Sums are unchanged, so readers never tell; rows already rolled up (on the hour) are read
    only when a late row joins their hour (a replica that flushed after a long outage).
    """
    t = endpoint_tallies.c
    moment: ColumnElement[Any] = t.minute
    if connection.dialect.name == "postgresql":
        moment = func.timezone("UTC", t.minute)  # the minute field in UTC, whatever the session
    off_the_hour = select(t.minute).where(t.minute < before, extract("minute", moment) != 0)
    hours = {minute_of(m).replace(minute=0) for (m,) in connection.execute(off_the_hour.distinct())}
    removed = 0
    for hour in sorted(hours):
        end = hour + timedelta(hours=1)
        rows = connection.execute(
            select(t.id, t.endpoint, t.method, t.capability, t.served_by, t.count).where(
                t.minute >= hour, t.minute < min(end, before)
            )
        ).all()
        sums: dict[tuple[str, str, str, str], int] = {}
        for _id, endpoint, method, capability, served_by, count in rows:
            key = (endpoint, method, capability, served_by)
            sums[key] = sums.get(key, 0) + int(count)
        ids = [row[0] for row in rows]
        for at in range(0, len(ids), 500):
            connection.execute(delete(endpoint_tallies).where(t.id.in_(ids[at : at + 500])))
        connection.execute(
            insert(endpoint_tallies),
            [
                {**dict(zip(_ENDPOINT_KEY, key, strict=True)), "minute": hour, "count": n}
                for key, n in sums.items()
            ],
        )
        removed += len(rows) - len(sums)
    return removed


@dataclass(frozen=True, slots=True)
class Written:
    """What ``ResultStore.record()`` did: rows stored, and examples counted without a row
    because their experiment's share of the store was full (by experiment)."""

    rows: int = 0
    folded: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float | None
    p99: float | None
    count: int


@dataclass(frozen=True, slots=True)
class SignatureCount:
    signature: str
    count: int
    example_id: str


@dataclass(frozen=True, slots=True)
class PathCount:
    path: str
    count: int
    example_id: str


# (experiment, route, a mismatch's differences) -> True when every difference is known noise now
Excuse = Callable[[str, str, Sequence[Mapping[str, Any]]], bool]


@dataclass(frozen=True, slots=True)
class ExperimentSummary:
    """What one experiment recorded since a moment; the ground reports build on."""

    experiment: str
    comparisons: int = 0
    matches: int = 0
    mismatches: int = 0
    ignored: int = 0
    candidate_errors: int = 0
    dropped: int = 0
    # examples not stored (the experiment's share of the store was full), counted all the same
    examples_dropped: int = 0
    control_ms: Percentiles = Percentiles(None, None, 0)
    candidate_ms: Percentiles = Percentiles(None, None, 0)
    top_signatures: tuple[SignatureCount, ...] = ()
    top_paths: tuple[PathCount, ...] = ()
    latest_at: datetime | None = None
    earliest_at: datetime | None = None
    # mismatches recorded before noise learning caught up, counted as matches since
    excused: int = 0

    @property
    def mismatch_rate(self) -> float:
        judged = self.matches + self.mismatches + self.candidate_errors
        return (self.mismatches + self.candidate_errors) / judged if judged else 0.0


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """Outcome counts of one experiment in one time bucket ``[start, start + width)``."""

    start: datetime
    comparisons: int = 0
    matches: int = 0
    mismatches: int = 0
    candidate_errors: int = 0

    @property
    def judged(self) -> int:
        return self.matches + self.mismatches + self.candidate_errors

    @property
    def mismatch_rate(self) -> float | None:
        """As ``ExperimentSummary.mismatch_rate``; None when nothing was judged."""
        judged = self.judged
        return (self.mismatches + self.candidate_errors) / judged if judged else None


@dataclass(slots=True)
class _Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    control: list[float] = field(default_factory=list)
    candidate: list[float] = field(default_factory=list)
    # matches stored as tallies: their latencies are known as histograms only
    control_tallied: LatencyHistogram = field(default_factory=LatencyHistogram)
    candidate_tallied: LatencyHistogram = field(default_factory=LatencyHistogram)
    signatures: Counter[str] = field(default_factory=Counter)
    signature_example: dict[str, str] = field(default_factory=dict)
    paths: Counter[str] = field(default_factory=Counter)
    path_example: dict[str, str] = field(default_factory=dict)
    latest_at: datetime | None = None
    earliest_at: datetime | None = None
    excused: int = 0

    def seen_at(self, moment: datetime) -> None:
        if self.latest_at is None or moment > self.latest_at:
            self.latest_at = moment
        if self.earliest_at is None or moment < self.earliest_at:
            self.earliest_at = moment


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class ResultStore:
    """Observations, noise counts and drops in one database. Not thread-safe by contract:
    one writer thread (the ``Recorder``) or one report at a time per instance."""

    def __init__(
        self,
        engine: Engine,
        *,
        redactor: Redactor,
        body_limit: int = DEFAULT_BODY_LIMIT,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.engine = engine
        self.redactor = redactor
        self.body_limit = body_limit
        self.retention = timedelta(seconds=retention_seconds)
        self.max_bytes = max_bytes
        # False only for a store kept at a revision before 0004 (tests of upgrades): no
        # ``stored_bytes`` column to fill, no cap to enforce
        self._row_cost = True

    @classmethod
    def open(
        cls,
        url: str,
        *,
        redactor: Redactor,
        body_limit: int = DEFAULT_BODY_LIMIT,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        base_dir: Path | None = None,
        busy_timeout_ms: int = 5000,
        connect_timeout_s: int = 5,
        revision: str = "head",
    ) -> ResultStore:
        """Connect and migrate to the newest schema; raises if the store is unreachable.

        ``url``: ``sqlite:///relative/or/absolute.db`` (parent directory created; relative to
        ``base_dir`` if given) or ``postgresql+psycopg://user@host:port/db``. ``revision``
        is for tests that need an old schema.
        """
        parsed = resolve_url(url, base_dir=base_dir)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            engine = sqlite_engine(parsed, busy_timeout_ms=busy_timeout_ms)
        elif backend == "postgresql":
            engine = create_engine(
                parsed,
                pool_pre_ping=True,
                connect_args={"connect_timeout": connect_timeout_s},
            )
        else:
            raise ValueError(f"store url must be sqlite:// or postgresql+psycopg://, not {url!r}")
        store = cls(
            engine,
            redactor=redactor,
            body_limit=body_limit,
            retention_seconds=retention_seconds,
            max_bytes=max_bytes,
        )
        try:
            store.migrate(revision)
            if revision != "head":
                store._row_cost = (store.current_revision() or "") >= ROW_COST_REVISION
        except BaseException:
            engine.dispose()
            raise
        return store

    def migrate(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to ``revision``; safe with concurrent openers."""
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                self._migrate_once(revision)
                return
            except DBAPIError:
                # belt and braces: the lock should make another opener wait, not fail
                if attempt == attempts:
                    raise
                time.sleep(0.1 * attempt)

    def _migrate_once(self, revision: str) -> None:
        config = alembic_config(MIGRATIONS, self.engine.url)
        options = {"sqlite_begin": "BEGIN IMMEDIATE"}
        with (
            self.engine.connect().execution_options(**options) as connection,
            connection.begin(),
        ):
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at."""
        with self.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision this code knows."""
        return ScriptDirectory.from_config(
            alembic_config(MIGRATIONS, self.engine.url)
        ).get_current_head()

    def close(self) -> None:
        self.engine.dispose()

    # writes ------------------------------------------------------------------------------

    def write(self, records: Iterable[ObservationRecord]) -> int:
        """Insert ``records`` in one transaction, each redacted and truncated first; returns
        the rows stored (see ``record()`` for the ones counted without a row)."""
        return self.record(records).rows

    def record(self, records: Iterable[ObservationRecord]) -> Written:
        """Store ``records`` in one transaction, each redacted and truncated first.

        Each experiment's rows may take ``max_bytes`` of the store (``stored_bytes``, summed
        over what is stored now, so expiry frees room): a record that does not fit is not
        stored but counted, in the tallies (so every report and the gate still count it) and
        in ``example_drops`` (so a report says how many examples were lost).
        """
        redacted = [record.redacted(self.redactor, self.body_limit) for record in records]
        if not redacted:
            return Written()
        rows = [self._row(record) for record in redacted]
        if not self._row_cost:
            for row in rows:
                del row["stored_bytes"]
            with self.engine.begin() as connection:
                connection.execute(insert(observations), rows)
            return Written(len(rows))
        # SQLite: take the write lock first. A read (the usage) then a write in one deferred
        # transaction fails at once with SQLITE_BUSY when another process wrote in between,
        # busy timeout or not; BEGIN IMMEDIATE waits for the lock instead
        immediate = {"sqlite_begin": "BEGIN IMMEDIATE"}
        with (
            self.engine.connect().execution_options(**immediate) as connection,
            connection.begin(),
        ):
            used = self._usage(connection, {record.experiment for record in redacted})
            kept: list[dict[str, Any]] = []
            folded: list[ObservationRecord] = []
            for record, row in zip(redacted, rows, strict=True):
                total = used.get(record.experiment, 0) + row["stored_bytes"]
                if total > self.max_bytes:
                    folded.append(record)
                    continue
                used[record.experiment] = total
                kept.append(row)
            if kept:
                connection.execute(insert(observations), kept)
            dropped = self._fold(connection, folded) if folded else {}
        return Written(len(kept), dropped)

    def _usage(self, connection: Any, experiments: set[str]) -> dict[str, int]:
        query = (
            select(observations.c.experiment, func.sum(observations.c.stored_bytes))
            .where(observations.c.experiment.in_(sorted(experiments)))
            .group_by(observations.c.experiment)
        )
        return {name: int(total or 0) for name, total in connection.execute(query)}

    def _fold(self, connection: Any, records: list[ObservationRecord]) -> dict[str, int]:
        """Count ``records`` in tallies instead of rows; returns the examples lost by experiment."""
        matches: dict[tuple[str, str, str | None, datetime], MatchTally] = {}
        others: dict[TallyKey, MismatchTally] = {}
        lost: Counter[tuple[str, str | None]] = Counter()
        for record in records:
            if record.outcome == "match":
                minute = minute_of(record.created_at)
                key = (record.experiment, record.route, record.run_id, minute)
                match = matches.get(key)
                if match is None:
                    match = matches[key] = MatchTally(
                        record.experiment, record.route, minute, record.run_id
                    )
                match.add(record.control_ms, record.candidate_ms)
                continue
            tally = MismatchTally.of(record)
            tally = others.setdefault(tally.key, tally)
            tally.add(record.control_ms, record.candidate_ms)
            lost[(record.experiment, record.run_id)] += 1
        if matches:
            connection.execute(insert(match_tallies), _match_rows(matches.values()))
        if others:
            connection.execute(insert(mismatch_tallies), _mismatch_rows(others.values()))
        if lost:
            now = _now()
            connection.execute(
                insert(example_drops),
                [
                    {"experiment": name, "run_id": run, "at": now, "count": n}
                    for (name, run), n in lost.items()
                ],
            )
        by_experiment: Counter[str] = Counter()
        for (name, _), n in lost.items():
            by_experiment[name] += n
        return dict(by_experiment)

    @staticmethod
    def _row(record: ObservationRecord) -> dict[str, Any]:
        row = {
            "id": record.id,
            "experiment": record.experiment,
            "kind": record.kind,
            "route": record.route,
            "method": record.method,
            "path": record.path,
            "outcome": record.outcome,
            "control_status": record.control_status,
            "candidate_status": record.candidate_status,
            "control_ms": record.control_ms,
            "candidate_ms": record.candidate_ms,
            "control_error": record.control_error,
            "candidate_error": record.candidate_error,
            "differences": [dict(d) for d in record.differences],
            "noise": [dict(d) for d in record.noise],
            "signature": record.signature[:SIGNATURE_LENGTH],
            "control_headers": [list(pair) for pair in record.control_headers],
            "candidate_headers": [list(pair) for pair in record.candidate_headers],
            "control_body": record.control_body,
            "candidate_body": record.candidate_body,
            "control_body_size": record.control_body_size,
            "candidate_body_size": record.candidate_body_size,
            "created_at": record.created_at,
            "run_id": record.run_id,
        }
        row["stored_bytes"] = _row_bytes(row)
        return row

    def add_match_tallies(self, tallies: Iterable[MatchTally]) -> int:
        """Insert match tallies in one transaction; returns the matches they count."""
        rows = _match_rows(tallies)
        if not rows:
            return 0
        with self.engine.begin() as connection:
            connection.execute(insert(match_tallies), rows)
        return sum(int(row["count"]) for row in rows)

    def add_mismatch_tallies(self, tallies: Iterable[MismatchTally]) -> int:
        """Insert mismatch tallies in one transaction; returns the comparisons they count."""
        rows = _mismatch_rows(tallies)
        if not rows:
            return 0
        with self.engine.begin() as connection:
            connection.execute(insert(mismatch_tallies), rows)
        return sum(int(row["count"]) for row in rows)

    def examples_dropped(
        self, *, since: datetime | None = None, run: str | None = None
    ) -> dict[str, int]:
        """Per experiment: examples not stored because its share of the store was full."""
        query = select(example_drops.c.experiment, func.sum(example_drops.c.count)).group_by(
            example_drops.c.experiment
        )
        if since is not None:
            query = query.where(example_drops.c.at >= since)
        if run is None:
            query = query.where(example_drops.c.run_id.is_(None))
        else:
            query = query.where(example_drops.c.run_id == run)
        with self.engine.connect() as connection:
            return {name: int(total or 0) for name, total in connection.execute(query)}

    def stored_bytes(self) -> dict[str, int]:
        """Per experiment: what its stored rows cost, as counted against ``max_bytes``."""
        with self.engine.connect() as connection:
            query = select(observations.c.experiment, func.sum(observations.c.stored_bytes))
            return {
                name: int(total or 0)
                for name, total in connection.execute(query.group_by(observations.c.experiment))
            }

    def add_drops(self, experiment: str, count: int, *, at: datetime | None = None) -> None:
        """Record that ``count`` comparisons of ``experiment`` were lost before storage."""
        if count <= 0:
            return
        with self.engine.begin() as connection:
            connection.execute(
                insert(drops).values(experiment=experiment, at=at or _now(), count=count)
            )

    def add_drop_counts(self, counts: Mapping[str, int], *, at: datetime | None = None) -> None:
        """Several experiments' drops in one transaction."""
        rows = [
            {"experiment": name, "at": at or _now(), "count": n} for name, n in counts.items() if n
        ]
        if rows:
            with self.engine.begin() as connection:
                connection.execute(insert(drops), rows)

    def add_noise_counts(self, deltas: Iterable[NoiseCount]) -> None:
        """Add ``deltas`` to the stored counts with one atomic upsert per key.

        ``x = x + delta`` in the database, never read-modify-write, so several processes
        sharing a PostgreSQL store add up exactly. Keys go in sorted order, so two writers
        upserting the same keys cannot deadlock.
        """
        merged: dict[tuple[str, str, str], list[int]] = {}
        for delta in deltas:
            sums = merged.setdefault(delta.key, [0, 0, 0, 0])
            for index, name in enumerate(_COUNTERS):
                sums[index] += getattr(delta, name)
        if not merged:
            return
        now = _now()
        with self.engine.begin() as connection:
            dialect = connection.dialect.name
            for (experiment, route, template_path), sums in sorted(merged.items()):
                values = dict(zip(_COUNTERS, sums, strict=True))
                statement: Any
                if dialect == "postgresql":
                    statement = postgresql.insert(noise_counts)
                elif dialect == "sqlite":
                    statement = sqlite.insert(noise_counts)
                else:  # pragma: no cover - open() accepts only these two
                    raise ValueError(f"no upsert for {dialect}")
                statement = statement.values(
                    experiment=experiment,
                    route=route,
                    template_path=template_path,
                    updated_at=now,
                    **values,
                )
                statement = statement.on_conflict_do_update(
                    index_elements=["experiment", "route", "template_path"],
                    set_={
                        **{
                            name: noise_counts.c[name] + statement.excluded[name]
                            for name in _COUNTERS
                        },
                        "updated_at": statement.excluded.updated_at,
                    },
                )
                connection.execute(statement)

    def purge_expired(self, *, now: datetime | None = None) -> int:
        """Delete observations, drops, tallies and sync windows, conflicts and heartbeats older
        than the retention (data verifications stay: the gate reads the latest), and roll the
        endpoint tallies older than ``ENDPOINT_ROLLUP_AGE`` up into hours; returns observations
        gone."""
        cutoff = (now or _now()) - self.retention
        with self.engine.begin() as connection:
            gone = connection.execute(
                delete(observations).where(observations.c.created_at < cutoff)
            ).rowcount
            connection.execute(delete(drops).where(drops.c.at < cutoff))
            connection.execute(delete(match_tallies).where(match_tallies.c.minute < cutoff))
            connection.execute(delete(mismatch_tallies).where(mismatch_tallies.c.minute < cutoff))
            connection.execute(delete(example_drops).where(example_drops.c.at < cutoff))
            connection.execute(delete(sync_windows).where(sync_windows.c.applied_at < cutoff))
            connection.execute(delete(sync_conflicts).where(sync_conflicts.c.at < cutoff))
            connection.execute(delete(sync_health).where(sync_health.c.at < cutoff))
            connection.execute(delete(endpoint_tallies).where(endpoint_tallies.c.minute < cutoff))
            roll_up_endpoint_tallies(connection, (now or _now()) - ENDPOINT_ROLLUP_AGE)
        return int(gone or 0)

    # reads -------------------------------------------------------------------------------

    def noise_counts(self, experiment: str | None = None) -> list[NoiseCount]:
        query = select(noise_counts).order_by(
            noise_counts.c.experiment, noise_counts.c.route, noise_counts.c.template_path
        )
        if experiment is not None:
            query = query.where(noise_counts.c.experiment == experiment)
        with self.engine.connect() as connection:
            return [
                NoiseCount(
                    experiment=row.experiment,
                    route=row.route,
                    template_path=row.template_path,
                    twin_samples=row.twin_samples,
                    twin_diffs=row.twin_diffs,
                    samples=row.samples,
                    diffs=row.diffs,
                )
                for row in connection.execute(query)
            ]

    def observation(self, observation_id: str) -> ObservationRecord | None:
        query = select(observations).where(observations.c.id == observation_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _record(row)

    def observations(
        self,
        *,
        experiment: str | None = None,
        since: datetime | None = None,
        run_id: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
    ) -> list[ObservationRecord]:
        """The newest observations first, filtered by what is given."""
        query = select(observations).order_by(observations.c.created_at.desc()).limit(limit)
        if experiment is not None:
            query = query.where(observations.c.experiment == experiment)
        if since is not None:
            query = query.where(observations.c.created_at >= since)
        if run_id is not None:
            query = query.where(observations.c.run_id == run_id)
        if outcome is not None:
            query = query.where(observations.c.outcome == outcome)
        with self.engine.connect() as connection:
            return [_record(row) for row in connection.execute(query).mappings()]

    def dropped(self, *, since: datetime | None = None) -> dict[str, int]:
        query = select(drops.c.experiment, func.sum(drops.c.count)).group_by(drops.c.experiment)
        if since is not None:
            query = query.where(drops.c.at >= since)
        with self.engine.connect() as connection:
            return {name: int(total or 0) for name, total in connection.execute(query)}

    def summary(
        self,
        since: datetime,
        *,
        experiment: str | None = None,
        top: int = 10,
        run: str | None = None,
        excuse: Excuse | None = None,
    ) -> dict[str, ExperimentSummary]:
        """Per experiment since ``since``: outcome counts, drops, latency p50/p99, top
        mismatch signatures and differing paths (each with an example observation id).

        ``run`` None: live traffic only (observations of no replay run); a run id: that run's
        observations only (and no drops, which belong to live traffic)."""
        columns = (
            observations.c.id,
            observations.c.experiment,
            observations.c.route,
            observations.c.outcome,
            observations.c.control_ms,
            observations.c.candidate_ms,
            observations.c.signature,
            observations.c.differences,
            observations.c.created_at,
        )
        query = _of_run(select(*columns).where(observations.c.created_at >= since), run)
        if experiment is not None:
            query = query.where(observations.c.experiment == experiment)
        tallies: dict[str, _Tally] = defaultdict(_Tally)
        with self.engine.connect() as connection:
            for row in connection.execute(query.execution_options(yield_per=1000)):
                _tally(tallies[row.experiment], row, excuse)
            for row in connection.execute(_tallies_query(since, None, experiment, run)):
                _add_tallied(tallies[row.experiment], row)
            for row in connection.execute(_mismatch_tallies_query(since, None, experiment, run)):
                _add_mismatch_tallied(tallies[row.experiment], row, excuse)
        dropped = self.dropped(since=since) if run is None else {}
        lost = self.examples_dropped(since=since, run=run)
        names = set(tallies) | set(dropped) | set(lost)
        if experiment is not None:
            names &= {experiment}
        return {
            name: _summary(name, tallies[name], dropped.get(name, 0), top, lost.get(name, 0))
            for name in names
        }

    def candidate_error_counts(
        self, since: datetime, *, experiment: str | None = None, run: str | None = None
    ) -> dict[str, dict[str, int]]:
        """Per experiment since ``since``: how many candidate errors had each error text
        (``"timeout"`` is what the shadow stage records for a candidate that ran out of time)."""
        query = (
            select(observations.c.experiment, observations.c.candidate_error, func.count())
            .where(observations.c.created_at >= since)
            .where(observations.c.outcome == "candidate_error")
            .group_by(observations.c.experiment, observations.c.candidate_error)
        )
        query = _of_run(query, run)
        if experiment is not None:
            query = query.where(observations.c.experiment == experiment)
        tallied = (
            select(
                mismatch_tallies.c.experiment,
                mismatch_tallies.c.candidate_error,
                func.sum(mismatch_tallies.c.count),
            )
            .where(mismatch_tallies.c.minute >= since)
            .where(mismatch_tallies.c.outcome == "candidate_error")
            .group_by(mismatch_tallies.c.experiment, mismatch_tallies.c.candidate_error)
        )
        tallied = _of_run(tallied, run, mismatch_tallies.c.run_id)
        if experiment is not None:
            query = query.where(observations.c.experiment == experiment)
            tallied = tallied.where(mismatch_tallies.c.experiment == experiment)
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        with self.engine.connect() as connection:
            for name, error, n in connection.execute(query):
                counts[name][error or ""] += int(n)
            for name, error, n in connection.execute(tallied):
                counts[name][error or ""] += int(n or 0)
        return {name: dict(errors) for name, errors in counts.items()}

    def timeline(
        self,
        since: datetime,
        *,
        until: datetime,
        buckets: int,
        experiment: str | None = None,
        run: str | None = None,
        excuse: Excuse | None = None,
    ) -> dict[str, list[TimeBucket]]:
        """Per experiment: outcome counts in ``buckets`` equal slices of ``[since, until)``,
        oldest first, empty slices included (a chart of the mismatch rate over time)."""
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets}")
        if until <= since:
            raise ValueError(f"until ({until}) must come after since ({since})")
        width = (until - since) / buckets
        columns: tuple[Any, ...] = (
            observations.c.experiment,
            observations.c.outcome,
            observations.c.created_at,
        )
        if excuse is not None:
            columns += (observations.c.route, observations.c.differences)
        query = (
            select(*columns)
            .where(observations.c.created_at >= since)
            .where(observations.c.created_at < until)
        )
        query = _of_run(query, run)
        if experiment is not None:
            query = query.where(observations.c.experiment == experiment)
        tallies: dict[str, list[Counter[str]]] = {}
        with self.engine.connect() as connection:
            for row in connection.execute(query.execution_options(yield_per=1000)):
                slots = tallies.setdefault(row.experiment, [Counter() for _ in range(buckets)])
                index = min(int((row.created_at - since) / width), buckets - 1)
                slots[index]["match" if _excused(row, excuse) else row.outcome] += 1
            for row in connection.execute(_tallies_query(since, until, experiment, run)):
                slots = tallies.setdefault(row.experiment, [Counter() for _ in range(buckets)])
                index = min(int((row.minute - since) / width), buckets - 1)
                slots[index]["match"] += int(row.matches)
            for row in connection.execute(_mismatch_tallies_query(since, until, experiment, run)):
                slots = tallies.setdefault(row.experiment, [Counter() for _ in range(buckets)])
                index = min(int((row.minute - since) / width), buckets - 1)
                outcome = "match" if _tally_excused(row, excuse) else row.outcome
                slots[index][outcome] += int(row.n)
        return {
            name: [
                TimeBucket(
                    start=since + width * index,
                    comparisons=sum(counts.values()),
                    matches=counts["match"],
                    mismatches=counts["mismatch"],
                    candidate_errors=counts["candidate_error"],
                )
                for index, counts in enumerate(slots)
            ]
            for name, slots in tallies.items()
        }

    def run_span(self, run: str) -> tuple[datetime, datetime] | None:
        """When a replay run's first and last observations were made; None if it has none."""
        query = select(
            func.min(observations.c.created_at), func.max(observations.c.created_at)
        ).where(observations.c.run_id == run)
        tallied = select(func.min(match_tallies.c.minute), func.max(match_tallies.c.minute)).where(
            match_tallies.c.run_id == run
        )
        counted = select(
            func.min(mismatch_tallies.c.minute), func.max(mismatch_tallies.c.minute)
        ).where(mismatch_tallies.c.run_id == run)
        with self.engine.connect() as connection:
            spans = [
                span
                for span in (
                    connection.execute(query).one(),
                    connection.execute(tallied).one(),
                    connection.execute(counted).one(),
                )
                if span[0] is not None
            ]
        if not spans:
            return None
        return min(span[0] for span in spans), max(span[1] for span in spans)

    def table_names(self) -> list[str]:
        with self.engine.connect() as connection:
            dialect = connection.dialect
            return sorted(dialect.get_table_names(connection))

    def execute_text(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one SQL statement and return its rows (diagnostics and tests)."""
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]


def _now() -> datetime:
    return datetime.now(UTC)


def _row_bytes(row: Mapping[str, Any]) -> int:
    """What an observation row costs in the store, about: its bodies, its JSON columns and
    texts, and a fixed overhead for the rest."""
    size = ROW_OVERHEAD
    for name in ("control_body", "candidate_body"):
        size += len(row[name] or b"")
    for name in ("differences", "noise", "control_headers", "candidate_headers"):
        size += len(json.dumps(row[name], default=str))
    for name in ("path", "signature", "control_error", "candidate_error", "route"):
        size += len(row[name] or "")
    return size


def _match_rows(tallies: Iterable[MatchTally]) -> list[dict[str, Any]]:
    return [
        {
            "experiment": tally.experiment,
            "route": tally.route,
            "run_id": tally.run_id,
            "minute": tally.minute,
            "count": tally.count,
            "control_ms": tally.control_ms.to_json(),
            "candidate_ms": tally.candidate_ms.to_json(),
        }
        for tally in tallies
        if tally.count
    ]


def _mismatch_rows(tallies: Iterable[MismatchTally]) -> list[dict[str, Any]]:
    return [
        {
            "experiment": tally.experiment,
            "route": tally.route,
            "run_id": tally.run_id,
            "minute": tally.minute,
            "outcome": tally.outcome,
            "signature": tally.signature[:SIGNATURE_LENGTH],
            "candidate_error": tally.candidate_error,
            "shape": [list(pair) for pair in tally.shape],
            "count": tally.count,
            "control_ms": tally.control_ms.to_json(),
            "candidate_ms": tally.candidate_ms.to_json(),
        }
        for tally in tallies
        if tally.count
    ]


def _of_run(query: Any, run: str | None, column: Any = None) -> Any:
    """Live traffic (no run id) when ``run`` is None, else that run's observations."""
    run_id = observations.c.run_id if column is None else column
    if run is None:
        return query.where(run_id.is_(None))
    return query.where(run_id == run)


def _tallies_query(
    since: datetime, until: datetime | None, experiment: str | None, run: str | None
) -> Any:
    # a tally counts from the start of its minute: one whose minute began before ``since``
    # may hold matches after it, and is left out (report windows are minutes or more)
    query = select(
        match_tallies.c.experiment,
        match_tallies.c.minute,
        match_tallies.c.count.label("matches"),
        match_tallies.c.control_ms,
        match_tallies.c.candidate_ms,
    ).where(match_tallies.c.minute >= since)
    if until is not None:
        query = query.where(match_tallies.c.minute < until)
    if experiment is not None:
        query = query.where(match_tallies.c.experiment == experiment)
    if run is None:
        return query.where(match_tallies.c.run_id.is_(None))
    return query.where(match_tallies.c.run_id == run)


def _mismatch_tallies_query(
    since: datetime, until: datetime | None, experiment: str | None, run: str | None
) -> Any:
    # as _tallies_query: a tally counts from the start of its minute
    # ``count`` is labelled ``n``: ``Row.count`` is tuple's method
    columns = [c for c in mismatch_tallies.c if c.name != "count"]
    query = select(*columns, mismatch_tallies.c.count.label("n")).where(
        mismatch_tallies.c.minute >= since
    )
    if until is not None:
        query = query.where(mismatch_tallies.c.minute < until)
    if experiment is not None:
        query = query.where(mismatch_tallies.c.experiment == experiment)
    return _of_run(query, run, mismatch_tallies.c.run_id)


def _shape_differences(shape: Any) -> list[dict[str, str]]:
    """A tally's shape as the differences ``Excuse`` judges (template path and kind)."""
    return [{"template_path": str(path), "kind": str(kind)} for path, kind in shape or ()]


def _tally_excused(row: Any, excuse: Excuse | None) -> bool:
    """As ``_excused``, for comparisons counted in a mismatch tally."""
    return (
        excuse is not None
        and row.outcome == "mismatch"
        and bool(row.shape)
        and excuse(row.experiment, row.route, _shape_differences(row.shape))
    )


def _add_mismatch_tallied(tally: _Tally, row: Any, excuse: Excuse | None) -> None:
    count = int(row.n)
    real = _not_noise(row, _shape_differences(row.shape), excuse)
    excused = row.outcome == "mismatch" and bool(row.shape) and not real
    if excused:
        tally.outcomes["match"] += count
        tally.excused += count
    else:
        tally.outcomes[row.outcome] += count
    tally.control_tallied.merge(LatencyHistogram.from_json(row.control_ms))
    tally.candidate_tallied.merge(LatencyHistogram.from_json(row.candidate_ms))
    tally.seen_at(row.minute)
    if row.outcome not in ("mismatch", "candidate_error") or excused:
        return
    signature = _signature(row.signature, real, len(row.shape or ()))
    if signature:
        tally.signatures[signature] += count
    for path in {_difference_path(d) for d in real}:
        tally.paths[path] += count


def _add_tallied(tally: _Tally, row: Any) -> None:
    tally.outcomes["match"] += int(row.matches)
    tally.control_tallied.merge(LatencyHistogram.from_json(row.control_ms))
    tally.candidate_tallied.merge(LatencyHistogram.from_json(row.candidate_ms))
    tally.seen_at(row.minute)


def _excused(row: Any, excuse: Excuse | None) -> bool:
    """A mismatch every one of whose differences is, by what is known now, the monolith's own
    noise: recorded before the twins had spoken, it was never the candidate's fault."""
    return (
        excuse is not None
        and row.outcome == "mismatch"
        and bool(row.differences)
        and excuse(row.experiment, row.route, row.differences)
    )


def _not_noise(
    row: Any, differences: Sequence[Mapping[str, Any]], excuse: Excuse | None
) -> list[Mapping[str, Any]]:
    """The differences of a mismatch that are not, by what is known now, the monolith's own
    noise (all of them when nothing is known: an error, or no excuse given)."""
    if excuse is None or row.outcome != "mismatch":
        return list(differences)
    return [d for d in differences if not excuse(row.experiment, row.route, [d])]


def _signature(recorded: str, real: Sequence[Mapping[str, Any]], differences: int) -> str:
    """A mismatch's signature without its noise paths: ``$.request_id + $.unit_price`` with
    ``$.request_id`` learned as noise is the ``$.unit_price`` bug, not a second one."""
    if len(real) == differences:
        return recorded
    return "\n".join(sorted({_difference_path(d) for d in real}))


def _tally(tally: _Tally, row: Any, excuse: Excuse | None = None) -> None:
    real = _not_noise(row, row.differences or (), excuse)
    excused = row.outcome == "mismatch" and bool(row.differences) and not real
    if excused:
        tally.outcomes["match"] += 1
        tally.excused += 1
    else:
        tally.outcomes[row.outcome] += 1
    if row.control_ms is not None:
        tally.control.append(float(row.control_ms))
    if row.candidate_ms is not None:
        tally.candidate.append(float(row.candidate_ms))
    tally.seen_at(row.created_at)
    if row.outcome not in ("mismatch", "candidate_error") or excused:
        return
    signature = _signature(row.signature, real, len(row.differences or ()))
    if signature:
        tally.signatures[signature] += 1
        tally.signature_example.setdefault(signature, row.id)
    for path in {_difference_path(d) for d in real}:
        tally.paths[path] += 1
        tally.path_example.setdefault(path, row.id)


def _difference_path(difference: Mapping[str, Any]) -> str:
    return str(difference.get("template_path") or difference.get("path") or "")


def _summary(
    name: str, tally: _Tally, dropped: int, top: int, examples_dropped: int = 0
) -> ExperimentSummary:
    outcomes = tally.outcomes
    return ExperimentSummary(
        experiment=name,
        comparisons=sum(outcomes.values()),
        matches=outcomes["match"],
        mismatches=outcomes["mismatch"],
        ignored=outcomes["ignored"],
        candidate_errors=outcomes["candidate_error"],
        dropped=dropped,
        examples_dropped=examples_dropped,
        control_ms=_percentiles(tally.control, tally.control_tallied),
        candidate_ms=_percentiles(tally.candidate, tally.candidate_tallied),
        top_signatures=tuple(
            # "" when every comparison of the signature was counted without an example row
            SignatureCount(sig, n, tally.signature_example.get(sig, ""))
            for sig, n in tally.signatures.most_common(top)
        ),
        top_paths=tuple(
            PathCount(path, n, tally.path_example.get(path, ""))
            for path, n in tally.paths.most_common(top)
        ),
        latest_at=tally.latest_at,
        earliest_at=tally.earliest_at,
        excused=tally.excused,
    )


def _percentiles(values: list[float], tallied: LatencyHistogram) -> Percentiles:
    """Exact over stored rows alone; read from a histogram once tallied matches join in."""
    if not tallied.count:
        return Percentiles(percentile(values, 50), percentile(values, 99), len(values))
    merged = LatencyHistogram(tallied.counts)
    merged.extend(values)
    return Percentiles(merged.percentile(50), merged.percentile(99), merged.count)


def _record(row: RowMapping) -> ObservationRecord:
    return ObservationRecord(
        id=row["id"],
        experiment=row["experiment"],
        kind=row["kind"],
        route=row["route"],
        method=row["method"],
        path=row["path"],
        outcome=row["outcome"],
        control_status=row["control_status"],
        candidate_status=row["candidate_status"],
        control_ms=row["control_ms"],
        candidate_ms=row["candidate_ms"],
        control_error=row["control_error"],
        candidate_error=row["candidate_error"],
        differences=tuple(row["differences"] or ()),
        noise=tuple(row["noise"] or ()),
        signature=row["signature"],
        control_headers=tuple((str(n), str(v)) for n, v in row["control_headers"] or ()),
        candidate_headers=tuple((str(n), str(v)) for n, v in row["candidate_headers"] or ()),
        control_body=_bytes(row["control_body"]),
        candidate_body=_bytes(row["candidate_body"]),
        control_body_size=row["control_body_size"],
        candidate_body_size=row["candidate_body_size"],
        created_at=row["created_at"],
        run_id=row["run_id"],
    )


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def open_store(settings: StoreSettings) -> ResultStore:
    """Connect to the store ``settings`` name and migrate it to the newest schema; raises if
    it is unreachable."""
    return ResultStore.open(
        settings.url,
        redactor=settings.redactor,
        body_limit=settings.body_limit,
        retention_seconds=settings.retention_seconds,
        max_bytes=settings.max_bytes,
        base_dir=settings.base_dir,
        busy_timeout_ms=settings.busy_timeout_ms,
        connect_timeout_s=settings.connect_timeout_s,
    )


@dataclass(frozen=True, slots=True)
class StoreReading:
    """A store opened to read only (``open_store_read_only``): ``store`` None when there is
    nothing to read, ``note`` saying why (missing, or at a schema this code does not read)."""

    store: ResultStore | None
    note: str | None = None

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def open_store_read_only(settings: StoreSettings) -> StoreReading:
    """The store ``settings`` name, opened to read only: never created, never migrated.

    A SQLite file that does not exist, or a store whose schema is not this code's head (behind
    it: a command that writes migrates it first), reads as nothing, with a note saying so. A
    SQLite file is opened with ``mode=ro``: its bytes do not change. Raises if a server store
    is unreachable."""
    parsed = resolve_url(settings.url, base_dir=settings.base_dir)
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database in (None, "", ":memory:"):
            return StoreReading(None, f"the store {shown} is in memory: nothing recorded to read")
        path = Path(str(database)).resolve()
        if not path.is_file():
            return StoreReading(None, f"no store at {path} yet: nothing recorded (none created)")
        timeout = settings.busy_timeout_ms / 1000
        engine = create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(
                f"{path.as_uri().replace('file://', 'file:', 1)}?mode=ro",
                uri=True,
                timeout=timeout,
                check_same_thread=False,
            ),
        )
    elif backend == "postgresql":
        engine = create_engine(
            parsed, pool_pre_ping=True, connect_args={"connect_timeout": settings.connect_timeout_s}
        )
    else:
        raise ValueError(f"store url must be sqlite:// or postgresql+psycopg://, not {shown!r}")
    store = ResultStore(
        engine,
        redactor=settings.redactor,
        body_limit=settings.body_limit,
        retention_seconds=settings.retention_seconds,
        max_bytes=settings.max_bytes,
    )
    try:
        current, head = store.current_revision(), store.head_revision()
    except BaseException:
        engine.dispose()
        raise
    if current != head:
        engine.dispose()
        at = "has no schema" if current is None else f"is at schema revision {current}"
        return StoreReading(
            None,
            f"the store {shown} {at}, not {head}: read as empty, left as it is (a command "
            "that records migrates it)",
        )
    return StoreReading(store)
