"""Fake sides of a relay: an outbox (one relay, seq order, as on SQLite), a source that can
change a key while it is read, and a target with its own version ledger and outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from acl.data import (
    Admission,
    Applied,
    Change,
    Conflict,
    Key,
    Ledger,
    Rejected,
    Row,
    SourceRow,
    Version,
)
from strangler_sync import Entry, OutboxStats, SqlLedger

EPOCH = "e1"


@dataclass
class FakeClaim:
    outbox: FakeOutbox
    entries: tuple[Entry, ...]
    standby_for: str | None = None

    def done(self, applied: Sequence[int], parked: Sequence[tuple[int, str, str, str]]) -> None:
        self.outbox.done_calls += 1
        self.outbox.applied.update(applied)
        for seq, stage, field_, reason in parked:
            self.outbox.parked[seq] = (stage, field_, reason)


@dataclass
class FakeOutbox:
    entries: list[Entry] = field(default_factory=list)
    applied: set[int] = field(default_factory=set)
    parked: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    ledger: dict[tuple[str, Key], Version] = field(default_factory=dict)  # (direction, key)
    now: float = 1000.0
    done_calls: int = 0
    prunes: list[datetime] = field(default_factory=list)
    fail_claims: list[Exception] = field(default_factory=list)
    held: bool = False  # inside hold(): a writer in a test waits (writes nothing)
    holds: int = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.held, self.holds = True, self.holds + 1
        try:
            yield
        finally:
            self.held = False

    def write(self, key: Key, kind: Literal["upsert", "delete"] = "upsert") -> int:
        seq = len(self.entries) + 1
        self.entries.append(Entry(seq, key, kind, self.now))
        return seq

    def pending(self) -> list[Entry]:
        return [e for e in self.entries if e.seq not in self.applied and e.seq not in self.parked]

    @contextmanager
    def claim(self, limit: int) -> Iterator[FakeClaim]:
        if self.fail_claims:
            raise self.fail_claims.pop(0)
        yield FakeClaim(self, tuple(self.pending()[:limit]))

    def fence(self, keys: Sequence[Key]) -> dict[Key, Version | None]:
        newest: dict[Key, Version | None] = dict.fromkeys(keys)
        for e in self.entries:
            if e.key in newest:
                newest[e.key] = Version(EPOCH, e.seq)
        return newest

    def ledger_versions(
        self, keys: Sequence[Key], *, capability: str, direction: str
    ) -> dict[Key, Version]:
        return {k: v for (d, k), v in self.ledger.items() if d == direction and k in keys}

    def stats(self) -> OutboxStats:
        pending = self.pending()
        return OutboxStats(
            pending=len(pending),
            parked=len(self.parked),
            oldest_pending_at=min((e.captured_at for e in pending), default=None),
            newest_seq=self.entries[-1].seq if self.entries else None,
        )

    def prune(self, older_than: datetime, *, chunk: int = 5000) -> int:
        self.prunes.append(older_than)
        return 0


class FakeSource:
    """``rows``: the current state; ``broken`` keys read as unreadable; ``during_read`` runs
    between the fences (a writer racing the relay)."""

    def __init__(self, rows: Mapping[Key, Row] | None = None) -> None:
        self.rows: dict[Key, Row] = dict(rows or {})
        self.broken: set[Key] = set()
        self.during_read: Callable[[], None] | None = None
        self.reads: list[list[Key]] = []

    def read_keys(self, keys: Sequence[Key]) -> Sequence[SourceRow]:
        self.reads.append(list(keys))
        if self.during_read is not None:
            self.during_read()
        return [
            SourceRow(k, None, problem="month 13")
            if k in self.broken
            else SourceRow(k, self.rows[k])
            for k in keys
            if k in self.rows
        ]

    def close(self) -> None:
        pass


class FakeTarget:
    """Applies as a SyncTarget must, with the ledger's rules done here in Python: stale when
    the held version is the same or newer; a conflict when the target's own outbox has a
    change of the key newer than what the source's state includes (``ledger.peer``)."""

    def __init__(self) -> None:
        self.rows: dict[Key, Row] = {}
        self.versions: dict[Key, Version] = {}
        self.own_changes: dict[Key, int] = {}  # the target app's outbox: newest seq per key
        self.ledgers: list[SqlLedger] = []
        self.applied_log: list[tuple[Key, Version]] = []
        self.fail: Callable[[Sequence[Change]], Exception | None] = lambda changes: None
        self.refuse: dict[Key, str] = {}

    def apply(self, changes: Sequence[Change], *, ledger: Ledger) -> Applied:
        assert isinstance(ledger, SqlLedger)
        self.ledgers.append(ledger)
        error = self.fail(changes)
        if error is not None:
            raise error
        write, stale, conflicts = [], [], []
        for c in changes:
            held = self.versions.get(c.key)
            if held is not None and held.epoch == c.version.epoch and held.seq >= c.version.seq:
                stale.append(c.key)
                continue
            own = self.own_changes.get(c.key)
            peer = ledger.peer.get(c.key)
            if ledger.target_aggregate and own is not None and (peer is None or own > peer.seq):
                winner: Literal["source", "target"] = ledger.owner
                conflicts.append(Conflict(c.key, winner, own))
                if winner == "target":
                    self.versions[c.key] = c.version  # settled, as the ledger records it
                    continue
            write.append(c)
        admission = Admission(tuple(write), tuple(stale), tuple(conflicts))
        written = unchanged = deleted = 0
        rejected = []
        for c in write:
            if c.key in self.refuse:
                rejected.append(Rejected(c.key, "name", self.refuse[c.key]))
                continue
            self.versions[c.key] = c.version
            self.applied_log.append((c.key, c.version))
            if c.row is None:
                deleted += self.rows.pop(c.key, None) is not None
            elif self.rows.get(c.key) == c.row:
                unchanged += 1
            else:
                self.rows[c.key] = c.row
                written += 1
        return Applied(written, unchanged, deleted, tuple(rejected), admission)

    def close(self) -> None:
        pass
