"""One direction of one capability's sync: captured changes in, the current rows applied.

A batch (docs/data.md, "the relay"):

1. claim up to ``batch_size`` pending outbox entries (PostgreSQL: row locks held until step 7;
   SQLite: the relay's lease), and take their distinct keys;
2. fence before: the newest outbox version of each key (and, while both directions run, the
   source database's ledger of the other direction: which target changes it already holds);
3. read the keys' current rows from the source (state transfer: absent means deleted);
4. fence after: a key whose fence moved changed while it was read, so its state matches no
   exact version: it is left pending and the next batch takes it again;
5. translate each row; an unreadable row or a ``TranslationError`` parks that key;
6. ``target.apply(changes, ledger=SqlLedger(...))``: in the target's own transaction the
   ledger admits only versions newer than what the target holds (stale ones are counted) and
   decides conflicts for the owner; the target writes what was admitted and commits;
7. mark the entries applied and park the failed ones, in one commit (``Claim.done``).

A kill at any instant before 7 leaves the entries pending: they are read again and come back
stale or unchanged, never applied twice nor out of order. Failures: ``faults.py``.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from acl.data import (
    Change,
    Conflict,
    Key,
    RowTranslator,
    SourceRow,
    SyncSource,
    SyncTarget,
    Version,
)
from acl.errors import TranslationError
from facade.resilience.backoff import Uniform
from parallel_run.sync_evidence import ConflictRecord, SyncHealth, SyncWindow
from strangler.data.conflicts import PROCESS, SeenConflicts
from strangler.data.faults import (
    Backoff,
    BatchFailed,
    PoisonWatch,
    Stage,
    classify,
    describe,
    halves,
)
from strangler.data.health import HEARTBEAT, HealthSink, relay_name
from strangler.data.metrics import RelayMetrics
from strangler.data.plan import Direction, Side, SyncPlan
from strangler_sync import Entry, OutboxStats, SqlLedger

IDLE_POLL = 0.05  # seconds between looks at an empty outbox
IDLE_CLAIM = 5.0  # an idle relay still claims this often: it renews the SQLite lease
STANDBY_POLL = 1.0  # seconds between claims while another relay holds the lease (SQLite)
STANDBY_GIVE_UP = 40.0  # --once: a lease (15 s) still held after this belongs to a live relay
PRUNE_EVERY = 60.0
CAPTURE_CHECK_EVERY = 30.0
HOT_KEY_MOVES = 5  # batches in a row a key's fence moved: then it is read alone, held
Parked = tuple[int, str, str, str]  # seq, stage, field, reason


class OutboxClaim(Protocol):
    @property
    def entries(self) -> tuple[Entry, ...]: ...

    @property
    def standby_for(self) -> str | None:
        """SQLite: another relay holds this direction's lease (named here); no entries."""
        ...

    def done(self, applied: Sequence[int], parked: Sequence[Parked]) -> None: ...


class Outbox(Protocol):
    """What a relay needs of ``strangler_sync.ChangeLog`` (fakes in the unit tests)."""

    def claim(self, limit: int) -> AbstractContextManager[OutboxClaim]: ...

    def fence(self, keys: Sequence[Key]) -> dict[Key, Version | None]: ...

    def hold(self) -> AbstractContextManager[None]:
        """No captured change commits while held (the hot-key bound: a short, rare stall)."""
        ...

    def ledger_versions(
        self, keys: Sequence[Key], *, capability: str, direction: str
    ) -> dict[Key, Version]: ...

    def stats(self) -> OutboxStats: ...

    def prune(self, older_than: datetime, *, chunk: int = 5000) -> int: ...


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """What a relay reads from the plan before each batch (routes.yaml may have changed)."""

    batch_size: int
    owner: Literal["source", "target"]  # who wins a conflict
    conflicts: bool  # a way back is configured: look for keys changed on both sides
    retention: float  # seconds applied entries are kept


def settings_of(plan: SyncPlan, direction: Direction, *, batch_size: int | None) -> RelaySettings:
    return RelaySettings(
        batch_size=batch_size or plan.batch_size,
        owner=plan.ledger_owner(direction),
        conflicts=plan.looks_for_conflicts,
        retention=plan.retention,
    )


class RelayBusy(Exception):
    """``--once`` found another relay holding this direction's lease the whole time."""


@dataclass
class BatchResult:
    claimed: int = 0
    standby_for: str | None = None  # another relay holds the lease (SQLite): nothing claimed
    ops: Counter[str] = field(default_factory=Counter)  # upsert, delete, unchanged, stale
    parked: Counter[str] = field(default_factory=Counter)  # by stage
    moved: int = 0  # keys left pending: their fence moved while they were read
    held: int = 0  # hot keys read alone while the outbox was held
    conflicts: list[Conflict] = field(default_factory=list)
    failure: BatchFailed | None = None  # part of a bisected batch failed: back off

    @property
    def applied(self) -> int:
        return sum(self.ops.values())


@dataclass
class _Outcome:
    """What a batch (or a bisected part of it) did, merged only once that part succeeded."""

    applied: list[int] = field(default_factory=list)  # seqs
    parked: list[Parked] = field(default_factory=list)
    windows: list[tuple[Key, float]] = field(default_factory=list)  # key, first captured_at
    delays: list[float] = field(default_factory=list)  # captured_at of each applied entry
    versions: dict[Key, Version] = field(default_factory=dict)
    result: BatchResult = field(default_factory=BatchResult)

    def park(self, entries: Sequence[Entry], stage: Stage, field_: str, reason: str) -> None:
        self.parked += [(e.seq, stage, field_, reason) for e in entries]
        self.result.parked[stage] += 1

    def merge(self, other: _Outcome) -> None:
        self.applied += other.applied
        self.parked += other.parked
        self.windows += other.windows
        self.delays += other.delays
        self.versions.update(other.versions)
        self.result.ops += other.result.ops
        self.result.parked += other.result.parked
        self.result.moved += other.result.moved
        self.result.held += other.result.held
        self.result.conflicts += other.result.conflicts


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Relay:
    """One direction of one capability. ``run_once`` is one batch; ``follow`` loops."""

    def __init__(
        self,
        capability: str,
        direction: Direction,
        *,
        outbox: Outbox,
        source: SyncSource,
        translate: RowTranslator,
        target: SyncTarget,
        settings: Callable[[], RelaySettings],
        target_aggregate: str | None = None,
        metrics: RelayMetrics | None = None,
        health: HealthSink | None = None,
        capture_state: Callable[[], str] = lambda: "installed",
        log: Callable[[str], None] = _stderr,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        uniform: Uniform = random.uniform,
        seen: SeenConflicts = PROCESS,
    ) -> None:
        self.capability = capability
        self.direction = direction
        self._outbox = outbox
        self._source = source
        self._translate = translate
        self._target = target
        self._settings = settings
        self._target_aggregate = target_aggregate
        self._metrics = metrics
        self._health = health
        self._capture_state = capture_state
        self._log = log
        self._clock = clock
        self._monotonic = monotonic
        self.name = f"strangler data sync {capability} ({direction})"
        self.backoff = Backoff(log=log, clock=monotonic, uniform=uniform)
        self.poison = PoisonWatch()
        self.applied_total = 0
        self.conflicts_total = 0
        self._seen = seen
        self._next_beat = float("-inf")
        self._next_prune = float("-inf")
        self._next_capture_check = float("-inf")
        self._capture = "unknown"
        self._moves: Counter[Key] = Counter()  # batches in a row each key's fence moved

    @property
    def sides(self) -> tuple[Side, Side]:
        """(source side, target side) of this direction."""
        return ("legacy", "service") if self.direction == "forward" else ("service", "legacy")

    # -- one batch -----------------------------------------------------------------------

    def run_once(self) -> BatchResult:
        """Claim, move and mark one batch. Raises ``BatchFailed`` when the batch failed whole
        (nothing marked); a bisected batch that failed in part returns with ``failure``."""
        settings = self._settings()
        out = _Outcome()
        try:
            with self._outbox.claim(settings.batch_size) as claim:
                by_key: dict[Key, list[Entry]] = {}
                for entry in claim.entries:
                    by_key.setdefault(entry.key, []).append(entry)
                out.result.claimed = len(claim.entries)
                out.result.standby_for = claim.standby_for
                if by_key:
                    if self.poison.bisecting:
                        self._bisect(list(by_key), by_key, settings, out)
                    else:
                        try:
                            out.merge(self._move(list(by_key), by_key, settings))
                        except BatchFailed as exc:
                            if classify(exc) == "batch":
                                self.poison.batch_failed()
                            raise
                claim.done(out.applied, out.parked)
        except BatchFailed:
            raise
        except Exception as exc:  # the outbox itself: claim or mark, in the source database
            raise BatchFailed("source", exc) from exc
        if out.result.failure is None:
            self.poison.clean_batch()
        self._observe(out)
        return out.result

    def _bisect(
        self,
        keys: Sequence[Key],
        by_key: dict[Key, list[Entry]],
        settings: RelaySettings,
        out: _Outcome,
    ) -> None:
        failure = out.result.failure
        if failure is not None and classify(failure) != "batch":
            return  # a side went away: what succeeded is kept, the rest waits
        try:
            out.merge(self._move(keys, by_key, settings))
            return
        except BatchFailed as exc:
            out.result.failure = exc
            if classify(exc) != "batch":
                return
            if len(keys) == 1:
                if self.poison.key_failed(keys[0]):
                    out.park(by_key[keys[0]], exc.stage, "(row)", describe(exc.cause))
                return
        for part in halves(keys):
            self._bisect(part, by_key, settings, out)

    def _move(
        self, keys: Sequence[Key], by_key: dict[Key, list[Entry]], settings: RelaySettings
    ) -> _Outcome:
        out = _Outcome()
        hot = [k for k in keys if self._moves[k] >= HOT_KEY_MOVES]
        try:
            before, peer_before, rows, after, peer_after = self._read(
                [k for k in keys if self._moves[k] < HOT_KEY_MOVES], settings
            )
            for key in hot:
                # a key that keeps changing between fences: read it alone while no captured
                # change can commit, so its fence cannot move (design: the hot-key bound)
                with self._outbox.hold():
                    read = self._read([key], settings)
                before.update(read[0])
                peer_before.update(read[1])
                rows.update(read[2])
                after.update(read[3])
                peer_after.update(read[4])
                out.result.held += 1
        except Exception as exc:
            raise BatchFailed("source", exc) from exc
        changes: list[Change] = []
        for key in keys:
            version = after.get(key)
            if (
                version is None
                or version != before.get(key)
                or (peer_after.get(key) != peer_before.get(key))
            ):
                out.result.moved += 1  # changed while read: the next batch takes it again
                self._moves[key] += 1
                continue
            self._moves.pop(key, None)
            row = rows.get(key)
            if row is None:
                changes.append(Change(key, None, version))
            elif row.values is None:
                out.park(by_key[key], "source", "(row)", row.problem or "unreadable")
            else:
                try:
                    changes.append(Change(key, self._translate(row.values), version))
                except TranslationError as exc:
                    out.park(by_key[key], "translate", exc.field, exc.reason)
                except Exception as exc:
                    raise BatchFailed("translate", exc) from exc
        if not changes:
            return out
        ledger = SqlLedger(
            self.capability,
            self.direction,
            owner=settings.owner,
            peer=peer_after,
            target_aggregate=self._target_aggregate if settings.conflicts else None,
            echo_capability=self._target_aggregate,
        )
        try:
            applied = self._target.apply(changes, ledger=ledger)
        except Exception as exc:
            raise BatchFailed("target", exc) from exc
        rejected = {r.key: r for r in applied.rejected}
        for change in changes:
            entries = by_key[change.key]
            if change.key in rejected:
                refused = rejected[change.key]
                out.park(entries, "target", refused.field, refused.reason)
                continue
            out.applied += [e.seq for e in entries]
            out.delays += [e.captured_at for e in entries]
            out.windows.append((change.key, min(e.captured_at for e in entries)))
            out.versions[change.key] = change.version
        admission = applied.admission
        ops = out.result.ops
        ops["upsert"] += applied.written
        ops["unchanged"] += applied.unchanged
        ops["delete"] += applied.deleted
        if admission is not None:
            ops["stale"] += len(admission.stale)
            out.result.conflicts += admission.conflicts
        return out

    def _read(
        self, keys: Sequence[Key], settings: RelaySettings
    ) -> tuple[
        dict[Key, Version | None],
        dict[Key, Version],
        dict[Key, SourceRow],
        dict[Key, Version | None],
        dict[Key, Version],
    ]:
        """Fence, read, fence: (before, peer before, rows, after, peer after)."""
        if not keys:
            return {}, {}, {}, {}, {}
        before = self._outbox.fence(keys)
        peer_before = self._peer(keys, settings)
        rows = {row.key: row for row in self._source.read_keys(keys)}
        after = self._outbox.fence(keys)
        return before, peer_before, rows, after, self._peer(keys, settings)

    def _peer(self, keys: Sequence[Key], settings: RelaySettings) -> dict[Key, Version]:
        if not settings.conflicts:
            return {}
        other = "back" if self.direction == "forward" else "forward"
        return self._outbox.ledger_versions(keys, capability=self.capability, direction=other)

    def _observe(self, out: _Outcome) -> None:
        result = out.result
        self.applied_total += result.applied
        now = self._clock()
        records = [self._record(c, out.versions, at=now) for c in result.conflicts]
        records = [r for r in records if self._seen.first(r)]  # the other direction's too
        self.conflicts_total += len(records)
        if self._metrics is not None:
            for op, count in result.ops.items():
                self._metrics.applied(op, count)
            for stage, count in result.parked.items():
                self._metrics.parked(stage, count)
            for record in records:
                self._metrics.conflict(record.winner)
            self._metrics.fence_retry(result.moved)
            if out.applied:
                self._metrics.delays((now - at for at in out.delays), at=now)
        if self._health is not None:
            applied_at = datetime.fromtimestamp(now, UTC)
            self._health.windows(
                [
                    SyncWindow(self.capability, key, datetime.fromtimestamp(at, UTC), applied_at)
                    for key, at in out.windows
                ]
            )
            if records:
                self._health.conflicts(records)

    def _record(
        self, conflict: Conflict, versions: dict[Key, Version], *, at: float
    ) -> ConflictRecord:
        """The store keeps one row per LOST change, unique on its side and seq: ``target_seq``
        holds the lost change's seq (in the loser's outbox), ``source_seq`` the winner's. Both
        relays may see one conflict (after cutover the forward one drops the monolith's change
        and the way back overwrites it); they then write the same row."""
        source_side, target_side = self.sides
        version = versions.get(conflict.key)
        source_seq = version.seq if version is not None else 0
        if conflict.winner == "source":
            winner, loser, won, lost = source_side, target_side, source_seq, conflict.target_seq
        else:
            winner, loser, won, lost = target_side, source_side, conflict.target_seq, source_seq
        return ConflictRecord(
            capability=self.capability,
            key=conflict.key,
            at=datetime.fromtimestamp(at, UTC),
            winner=winner,
            loser_side=loser,
            source_seq=won,
            target_seq=lost,
        )

    # -- following -----------------------------------------------------------------------

    def follow(self, stop: threading.Event, *, until_idle: bool = False, give_up: int = 0) -> None:
        """Run batches until ``stop`` is set; with ``until_idle``, until a claim comes back
        empty (``--once``). A failed batch backs off (``faults.Backoff``); with ``give_up``,
        that many failures in a row without progress raise the last one."""
        stuck = 0
        standby = 0.0
        while not stop.is_set():
            self.tick()
            try:
                result = self.run_once()
            except BatchFailed as exc:
                failure: BatchFailed | None = exc
                result = BatchResult()
            else:
                failure = result.failure
            if result.standby_for is not None:
                if standby == 0.0:
                    self._log(
                        f"{self.name}: standby: {result.standby_for} holds this direction; "
                        "taking over when its lease runs out"
                    )
                standby += STANDBY_POLL
                if until_idle and standby > STANDBY_GIVE_UP:
                    raise RelayBusy(
                        f"{result.standby_for} is running this direction: it applies the changes"
                    )
                stop.wait(STANDBY_POLL)
                continue
            standby = 0.0
            if failure is not None:
                if self._metrics is not None:
                    self._metrics.error(classify(failure))
                delay = self.backoff.failed(self.name, failure)
                stuck = 0 if result.applied or result.parked else stuck + 1
                if give_up and stuck >= give_up:
                    raise failure
                stop.wait(delay)
                continue
            stuck = 0
            self.backoff.succeeded(self.name)
            if result.claimed == 0:
                if until_idle:
                    break
                self._idle(stop)
        self.tick(force=True)

    def _idle(self, stop: threading.Event) -> None:
        """Wait for a pending change by reading only: a claim writes (the SQLite lease), and an
        idle relay must not take the monolith's write lock twenty times a second."""
        claim_at = self._monotonic() + IDLE_CLAIM
        while not stop.wait(IDLE_POLL) and self._monotonic() < claim_at:
            try:
                if self._outbox.stats().pending:
                    return
            except Exception:
                return  # the claim meets it too, and backs off
            self.tick()

    def tick(self, *, force: bool = False) -> None:
        """Heartbeat, gauges and retention, when due. Their failures are logged by the next
        batch's back-off, if the database is down, and otherwise only in the heartbeat."""
        now = self._monotonic()
        if now >= self._next_capture_check or force:
            self._next_capture_check = now + CAPTURE_CHECK_EVERY
            try:
                self._capture = self._capture_state()
            except Exception:
                self._capture = "unknown"
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            retention = self._settings().retention
            cutoff = datetime.fromtimestamp(self._clock(), UTC) - timedelta(seconds=retention)
            try:
                self._outbox.prune(cutoff)
            except Exception as exc:
                self.backoff.last_error = f"prune: {describe(exc)}"
        if now < self._next_beat and not force:
            return
        self._next_beat = now + HEARTBEAT
        try:
            stats = self._outbox.stats()
        except Exception as exc:
            self.backoff.last_error = f"{classify(exc)}: {describe(exc)}"
            return
        wall = self._clock()
        lag = 0.0 if stats.oldest_pending_at is None else max(0.0, wall - stats.oldest_pending_at)
        if self._metrics is not None:
            self._metrics.outbox(pending=stats.pending, parked=stats.parked, lag=lag)
        if self._health is not None:
            self._health.beat(
                SyncHealth(
                    capability=self.capability,
                    direction=self.direction,
                    relay=relay_name(),
                    at=datetime.fromtimestamp(wall, UTC),
                    lag_seconds=lag,
                    pending=stats.pending,
                    parked=stats.parked,
                    applied_total=self.applied_total,
                    conflicts_total=self.conflicts_total,
                    capture_state=self._capture,
                    last_error=self.backoff.last_error,
                )
            )
