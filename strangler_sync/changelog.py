"""The outbox as the relay works it: claim pending entries, fence keys, mark applied, park,
unpark, report and prune. One per (database, aggregate, direction)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine

from acl.data import Key, Version


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    key: Key
    type: Literal["upsert", "delete"]
    captured_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    parked: int
    oldest_pending_at: float | None  # epoch seconds; the lag is now minus this
    newest_seq: int | None


class Claim:
    """Entries held by this relay until the claim closes. PostgreSQL: row locks (FOR UPDATE
    SKIP LOCKED) in a transaction left open until ``done``; SQLite: the relay's lease."""

    entries: tuple[Entry, ...]

    def done(self, applied: Sequence[int], parked: Sequence[tuple[int, str, str, str]]) -> None:
        """Mark ``applied`` seqs applied and park ``(seq, stage, field, reason)``; commit."""
        raise NotImplementedError


class ChangeLog:
    def __init__(
        self,
        engine: Engine,
        *,
        aggregate: str,
        direction: Literal["forward", "back"],
        holder: str,
    ) -> None:
        self.engine = engine
        self.aggregate = aggregate
        self.direction = direction
        self.holder = holder

    def epoch(self) -> str:
        """The capture epoch of ``aggregate`` (CaptureError when capture is not installed)."""
        raise NotImplementedError

    @contextmanager
    def claim(self, limit: int) -> Iterator[Claim]:
        raise NotImplementedError
        yield  # pragma: no cover

    def fence(self, keys: Sequence[Key]) -> dict[Key, Version | None]:
        """The newest version of each key in the outbox (None: no row), one statement."""
        raise NotImplementedError

    def ledger_versions(
        self, keys: Sequence[Key], *, capability: str, direction: str
    ) -> dict[Key, Version]:
        """This database's ledger for another direction (what it already took from the peer)."""
        raise NotImplementedError

    def unpark(self, keys: Sequence[Key] | None = None) -> int:
        raise NotImplementedError

    def parked(self, limit: int = 100) -> list[tuple[int, Key, str, str, str, int]]:
        """(seq, key, stage, field, reason, attempts) of parked entries, oldest first."""
        raise NotImplementedError

    def stats(self) -> OutboxStats:
        raise NotImplementedError

    def prune(self, older_than: datetime, *, chunk: int = 5000) -> int:
        raise NotImplementedError
