"""The outbox as the relay works it: claim pending entries, fence keys, mark applied, park,
unpark, report and prune. One per (database, aggregate, direction).

Claims differ per dialect (docs/data.md):

- **PostgreSQL**: ``SELECT ... FOR UPDATE SKIP LOCKED`` in a transaction left open until
  ``Claim.done`` commits it (or the claim closes without ``done``: rolled back, the entries
  come back). Any number of relays split the pending entries; a dead relay's claims return
  when its session ends. Never a "last seq" cursor: identity values are not commit-ordered.
- **SQLite**: one relay per (aggregate, direction) holds a lease (``strangler_relay``:
  ``holder``, ``lease_until``), taken or renewed by every claim. A second relay gets an EMPTY
  claim whose ``standby_for`` names the holder, and no error: it waits as a standby and takes
  over once the lease has run out (``lease_seconds`` after the holder's last claim). No
  transaction stays open; the lease row keeps a cursor (every entry at or below it is
  applied or parked), so a claim scans only the tail of the rowid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Connection, Engine, text

from acl.data import Key, SqlTx, Version
from strangler_sync.errors import CaptureError, SyncError
from strangler_sync.install import has_table
from strangler_sync.newest import newest_seqs
from strangler_sync.params import as_float, as_int, chunks, member_of, parts
from strangler_sync.schema import (
    CAPTURE,
    LEDGER,
    OUTBOX,
    PARKED,
    RELAY,
    epoch_seconds_sql,
    now_sql,
)
from strangler_sync.sqltx import READ_ONLY, SqlAlchemyTx

LEASE_SECONDS = 15.0
_PARKED_PER_STATEMENT = 100  # 5 parameters a row
# the aggregate's current epoch, which the SQLite relay's cursor belongs to
_EPOCH = f"(SELECT epoch FROM {CAPTURE} WHERE capability = :a)"


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
    SKIP LOCKED) in a transaction left open until ``done``; SQLite: the relay's lease.
    ``standby_for``: (SQLite) another relay holds the lease, named here; ``entries`` is empty."""

    def __init__(
        self,
        entries: tuple[Entry, ...],
        finish: Callable[[Sequence[int], Sequence[tuple[int, str, str, str]]], None],
        *,
        standby_for: str | None = None,
    ) -> None:
        self.entries = entries
        self.standby_for = standby_for
        self._finish = finish
        self.finished = False

    def done(self, applied: Sequence[int], parked: Sequence[tuple[int, str, str, str]]) -> None:
        """Mark ``applied`` seqs applied and park ``(seq, stage, field, reason)``; commit.
        Entries in neither stay pending (a fence moved: the next claim takes them again). A
        key whose entry is applied also resolves its older parked entries (state transfer:
        the target now holds a later state)."""
        if self.finished:
            raise RuntimeError("this claim is done already")
        self._finish(applied, parked)
        self.finished = True


def _utc_seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class ChangeLog:
    def __init__(
        self,
        engine: Engine,
        *,
        aggregate: str,
        direction: Literal["forward", "back"],
        holder: str,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.engine = engine
        self.aggregate = aggregate
        self.direction = direction
        self.holder = holder
        self.lease_seconds = lease_seconds
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise SyncError(f"data sync supports SQLite and PostgreSQL, not {engine.dialect.name}")
        self.dialect: Literal["sqlite", "postgresql"] = (
            "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
        )

    @contextmanager
    def _tx(self) -> Iterator[SqlAlchemyTx]:
        with self.engine.begin() as conn:
            yield SqlAlchemyTx(conn)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn.execution_options(**{READ_ONLY: True})

    def _require(self, tx: SqlTx) -> None:
        if not has_table(tx, OUTBOX) or not has_table(tx, RELAY):
            raise CaptureError(
                f"no sync outbox in {self.engine.url.render_as_string(hide_password=True)}"
                f" (run: strangler data capture {self.aggregate})"
            )

    def epoch(self) -> str:
        """The capture epoch of ``aggregate`` (CaptureError when capture is not installed)."""
        with self._read() as conn:
            tx = SqlAlchemyTx(conn)
            rows = (
                tx.execute(
                    f"SELECT epoch FROM {CAPTURE} WHERE capability = :a", {"a": self.aggregate}
                )
                if has_table(tx, CAPTURE)
                else []
            )
        if not rows:
            raise CaptureError(
                f"capture of {self.aggregate} is not installed"
                f" (run: strangler data capture {self.aggregate})"
            )
        return str(rows[0][0])

    # -- claims ---------------------------------------------------------------------------

    @contextmanager
    def claim(self, limit: int) -> Iterator[Claim]:
        if self.dialect == "postgresql":
            with self._postgres_claim(limit) as claim:
                yield claim
        else:
            yield self._sqlite_claim(limit)

    def _entries(self, tx: SqlTx, sql: str, params: dict[str, object]) -> tuple[Entry, ...]:
        return tuple(
            Entry(as_int(seq), str(key), "delete" if op == "delete" else "upsert", as_float(at))
            for seq, key, op, at in tx.execute(sql, params)
        )

    def _select_pending(self, extra: str) -> str:
        at = epoch_seconds_sql(self.dialect, "captured_at")
        return (
            f"SELECT seq, aggregateid, type, {at} FROM {OUTBOX}"
            " WHERE aggregatetype = :a AND applied_at IS NULL AND parked_at IS NULL"
            f"{extra} ORDER BY seq LIMIT :n"
        )

    @contextmanager
    def _postgres_claim(self, limit: int) -> Iterator[Claim]:
        with self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                tx = SqlAlchemyTx(conn)
                self._require(tx)
                entries = self._entries(
                    tx,
                    self._select_pending("") + " FOR UPDATE SKIP LOCKED",
                    {"a": self.aggregate, "n": limit},
                )

                def finish(
                    applied: Sequence[int], parked: Sequence[tuple[int, str, str, str]]
                ) -> None:
                    self._finish(tx, entries, applied, parked)
                    transaction.commit()

                yield Claim(entries, finish)
            finally:
                if transaction.is_active:
                    transaction.rollback()  # claims not done come back

    def _sqlite_claim(self, limit: int) -> Claim:
        now = time.time()
        with self._tx() as tx:
            self._require(tx)
            # a write first: the lease decides who reads, under the database's write lock
            # a cursor kept from another epoch (the outbox re-created, its rowids from 1
            # again) is reset: it would hide every new entry
            tx.execute(
                f"INSERT INTO {RELAY} (capability, direction, holder, lease_until, cursor_seq,"
                f" epoch) VALUES (:a, :d, :h, :until, 0, {_EPOCH})"
                " ON CONFLICT (capability, direction) DO UPDATE"
                " SET holder = excluded.holder, lease_until = excluded.lease_until,"
                f" cursor_seq = CASE WHEN {RELAY}.epoch IS excluded.epoch"
                f" THEN {RELAY}.cursor_seq ELSE 0 END, epoch = excluded.epoch"
                f" WHERE {RELAY}.holder = excluded.holder OR {RELAY}.lease_until < :now",
                self._lease_params(now),
            )
            holder, low = tx.execute(
                f"SELECT holder, cursor_seq FROM {RELAY} WHERE capability = :a AND direction = :d",
                {"a": self.aggregate, "d": self.direction},
            )[0]
            if holder != self.holder:
                return Claim((), self._refuse, standby_for=str(holder))
            entries = self._entries(
                tx,
                self._select_pending(" AND seq > :low"),
                {"a": self.aggregate, "n": limit, "low": low},
            )

        def finish(applied: Sequence[int], parked: Sequence[tuple[int, str, str, str]]) -> None:
            with self._tx() as tx:
                self._finish(tx, entries, applied, parked)
                self._advance(tx, entries, set(applied) | {p[0] for p in parked})

        return Claim(entries, finish)

    def _lease_params(self, now: float) -> dict[str, object]:
        return {
            "a": self.aggregate,
            "d": self.direction,
            "h": self.holder,
            "until": now + self.lease_seconds,
            "now": now,
        }

    @staticmethod
    def _refuse(applied: Sequence[int], parked: Sequence[tuple[int, str, str, str]]) -> None:
        if applied or parked:
            raise RuntimeError("a standby's claim holds no entries to finish")

    def _advance(self, tx: SqlTx, entries: tuple[Entry, ...], finished: set[int]) -> None:
        """Move the SQLite cursor past the claimed entries, up to the first one left pending."""
        if not entries:
            return
        left = [e.seq for e in entries if e.seq not in finished]
        cursor = min(left) - 1 if left else entries[-1].seq
        tx.execute(
            f"UPDATE {RELAY} SET cursor_seq = max(cursor_seq, :cursor)"
            " WHERE capability = :a AND direction = :d AND holder = :h",
            {"cursor": cursor, "a": self.aggregate, "d": self.direction, "h": self.holder},
        )

    def _finish(
        self,
        tx: SqlTx,
        entries: tuple[Entry, ...],
        applied: Sequence[int],
        parked: Sequence[tuple[int, str, str, str]],
    ) -> None:
        now = now_sql(self.dialect)
        keys = {e.seq: e.key for e in entries}
        for part in parts(self.dialect, sorted(set(applied))):
            member, params = member_of(self.dialect, "seq", "s", part, "bigint")
            tx.execute(
                f"UPDATE {OUTBOX} SET applied_at = {now} WHERE aggregatetype = :a AND {member}",
                {"a": self.aggregate, **params},
            )
            # unparked, then applied: no orphan rows
            tx.execute(f"DELETE FROM {PARKED} WHERE {member}", params)
        self._park(tx, [(seq, keys.get(seq), stage, f, r) for seq, stage, f, r in parked])
        newest: dict[Key, int] = {}
        for seq in applied:
            if seq in keys:
                newest[keys[seq]] = max(newest.get(keys[seq], 0), seq)
        self._resolve(tx, newest)

    def _park(self, tx: SqlTx, rows: Sequence[tuple[int, Key | None, str, str, str]]) -> None:
        now = now_sql(self.dialect)
        for part in chunks(rows, _PARKED_PER_STATEMENT):
            seqs = [seq for seq, *_ in part]
            member, params = member_of(self.dialect, "seq", "s", seqs, "bigint")
            found = tx.execute(
                f"UPDATE {OUTBOX} SET parked_at = {now} WHERE aggregatetype = :a"
                f" AND {member} RETURNING seq, aggregateid",
                {"a": self.aggregate, **params},
            )
            key_of = {as_int(seq): str(key) for seq, key in found}
            values: list[str] = []
            row_params: dict[str, object] = {"a": self.aggregate}
            for i, (seq, _key, stage, field, reason) in enumerate(part):
                if seq not in key_of:
                    continue  # not in this outbox (pruned, or another aggregate's)
                values.append(f"(:s{i}, :a, :k{i}, :st{i}, :f{i}, :r{i}, 1, {now}, {now})")
                row_params |= {
                    f"s{i}": seq,
                    f"k{i}": key_of[seq],
                    f"st{i}": stage,
                    f"f{i}": field,
                    f"r{i}": reason,
                }
            if values:
                tx.execute(
                    f"INSERT INTO {PARKED} (seq, aggregatetype, aggregateid, stage, field,"
                    f" reason, attempts, first_parked_at, last_tried_at) VALUES {', '.join(values)}"
                    " ON CONFLICT (seq) DO UPDATE SET attempts = "
                    f"{PARKED}.attempts + 1, last_tried_at = excluded.last_tried_at,"
                    " stage = excluded.stage, field = excluded.field, reason = excluded.reason",
                    row_params,
                )

    def _resolve(self, tx: SqlTx, newest: dict[Key, int]) -> None:
        """Parked entries of a key older than its applied entry: resolved by the later state."""
        if not newest:
            return
        resolved: list[int] = []
        for part in parts(self.dialect, sorted(newest)):
            # from the parked table, small, rather than a look at every outbox row of the
            # batch's keys: a batch almost never has parked entries to resolve
            member, params = member_of(self.dialect, "p.aggregateid", "k", part)
            rows = tx.execute(
                f"SELECT p.seq, p.aggregateid FROM {PARKED} p JOIN {OUTBOX} o ON o.seq = p.seq"
                f" WHERE p.aggregatetype = :a AND {member} AND o.parked_at IS NOT NULL",
                {"a": self.aggregate, **params},
            )
            resolved += [as_int(s) for s, k in rows if as_int(s) < newest[str(k)]]
        now = now_sql(self.dialect)
        for part_seqs in parts(self.dialect, resolved):
            member, params = member_of(self.dialect, "seq", "s", part_seqs, "bigint")
            tx.execute(
                f"UPDATE {OUTBOX} SET parked_at = NULL, applied_at = {now} WHERE {member}", params
            )
            tx.execute(f"DELETE FROM {PARKED} WHERE {member}", params)

    # -- fences and ledgers ---------------------------------------------------------------

    @contextmanager
    def hold(self) -> Iterator[None]:
        """While held no captured change commits, so a fence cannot move: SQLite takes the
        write lock (BEGIN IMMEDIATE); PostgreSQL locks the outbox against inserts (SHARE ROW
        EXCLUSIVE: it waits for the writers that inserted, and new ones wait at their
        trigger). Readers go on. For the relay's hot keys only: one key's read long."""
        with self.engine.connect() as conn, conn.begin():
            if self.dialect == "postgresql":
                conn.execute(text(f"LOCK TABLE {OUTBOX} IN SHARE ROW EXCLUSIVE MODE"))
            yield

    def fence(self, keys: Sequence[Key]) -> dict[Key, Version | None]:
        """The newest version of each key in the outbox (None: no row)."""
        fenced: dict[Key, Version | None] = dict.fromkeys(keys)
        with self._read() as conn:
            newest = newest_seqs(SqlAlchemyTx(conn), self.aggregate, keys)
            conn.rollback()
        for key, (seq, epoch) in newest.items():
            if epoch is None:
                raise CaptureError(
                    f"capture of {self.aggregate} has no epoch here"
                    f" (run: strangler data capture {self.aggregate})"
                )
            fenced[key] = Version(epoch, seq)
        return fenced

    def ledger_versions(
        self, keys: Sequence[Key], *, capability: str, direction: str
    ) -> dict[Key, Version]:
        """This database's ledger for another direction (what it already took from the peer)."""
        found: dict[Key, Version] = {}
        with self._read() as conn:
            tx = SqlAlchemyTx(conn)
            if not has_table(tx, LEDGER):
                return found
            for part in parts(self.dialect, list(dict.fromkeys(keys))):
                member, params = member_of(self.dialect, "key", "k", part)
                rows = tx.execute(
                    f"SELECT key, epoch, version FROM {LEDGER} WHERE capability = :c"
                    f" AND direction = :d AND version >= 0 AND {member}",
                    {"c": capability, "d": direction, **params},
                )
                for key, epoch, version in rows:
                    found[str(key)] = Version(str(epoch), as_int(version))
            conn.rollback()
        return found

    # -- parked entries -------------------------------------------------------------------

    def unpark(self, keys: Sequence[Key] | None = None) -> int:
        """Parked entries (of ``keys``, or all) become pending again; their
        ``strangler_parked`` rows stay (``attempts`` counts on) until the entry is applied.
        Returns how many."""
        with self._tx() as tx:
            if not has_table(tx, OUTBOX):
                return 0
            base = (
                f"UPDATE {OUTBOX} SET parked_at = NULL WHERE aggregatetype = :a"
                " AND parked_at IS NOT NULL"
            )
            seqs: list[int] = []
            if keys is None:
                seqs = [
                    as_int(s) for (s,) in tx.execute(f"{base} RETURNING seq", {"a": self.aggregate})
                ]
            for part in parts(self.dialect, list(keys or ())):
                member, params = member_of(self.dialect, "aggregateid", "k", part)
                rows = tx.execute(
                    f"{base} AND {member} RETURNING seq",
                    {"a": self.aggregate, **params},
                )
                seqs += [as_int(s) for (s,) in rows]
            if seqs and self.dialect == "sqlite" and has_table(tx, RELAY):
                tx.execute(
                    f"UPDATE {RELAY} SET cursor_seq = min(cursor_seq, :low)"
                    " WHERE capability = :a AND direction = :d",
                    {"low": min(seqs) - 1, "a": self.aggregate, "d": self.direction},
                )
        return len(seqs)

    def parked(self, limit: int = 100) -> list[tuple[int, Key, str, str, str, int]]:
        """(seq, key, stage, field, reason, attempts) of parked entries, oldest first."""
        with self._read() as conn:
            tx = SqlAlchemyTx(conn)
            if not has_table(tx, PARKED):
                return []
            rows = tx.execute(
                f"SELECT p.seq, p.aggregateid, p.stage, p.field, p.reason, p.attempts"
                f" FROM {PARKED} p JOIN {OUTBOX} o ON o.seq = p.seq"
                " WHERE p.aggregatetype = :a AND o.parked_at IS NOT NULL"
                " ORDER BY p.seq LIMIT :n",
                {"a": self.aggregate, "n": limit},
            )
            conn.rollback()
        return [
            (as_int(s), str(k), str(st), str(f), str(r), as_int(n)) for s, k, st, f, r, n in rows
        ]

    # -- health and retention -------------------------------------------------------------

    def stats(self) -> OutboxStats:
        at = epoch_seconds_sql(self.dialect, "captured_at")
        with self._read() as conn:
            tx = SqlAlchemyTx(conn)
            if not has_table(tx, OUTBOX):
                return OutboxStats(0, 0, None, None)
            low = self._cursor(tx)
            pending, oldest = tx.execute(
                f"SELECT count(*), min({at}) FROM {OUTBOX} WHERE aggregatetype = :a"
                " AND applied_at IS NULL AND parked_at IS NULL AND seq > :low",
                {"a": self.aggregate, "low": low},
            )[0]
            (parked,) = (
                tx.execute(
                    f"SELECT count(*) FROM {PARKED} p JOIN {OUTBOX} o ON o.seq = p.seq"
                    " WHERE p.aggregatetype = :a AND o.parked_at IS NOT NULL",
                    {"a": self.aggregate},
                )[0]
                if has_table(tx, PARKED)
                else (0,)
            )
            # backwards along the primary key: the newest rows come first (the key index
            # would have to be scanned over every row the aggregate ever had)
            last = tx.execute(
                f"SELECT seq FROM {OUTBOX} WHERE aggregatetype = :a ORDER BY seq DESC LIMIT 1",
                {"a": self.aggregate},
            )
            newest = last[0][0] if last else None
            conn.rollback()
        return OutboxStats(
            as_int(pending),
            as_int(parked),
            None if oldest is None else as_float(oldest),
            None if newest is None else as_int(newest),
        )

    def _cursor(self, tx: SqlTx) -> int:
        if self.dialect != "sqlite" or not has_table(tx, RELAY):
            return 0
        rows = tx.execute(
            f"SELECT cursor_seq FROM {RELAY} WHERE capability = :a AND direction = :d"
            f" AND epoch IS {_EPOCH}",
            {"a": self.aggregate, "d": self.direction},
        )
        return as_int(rows[0][0]) if rows else 0

    def prune(self, older_than: datetime, *, chunk: int = 5000) -> int:
        """Delete entries applied before ``older_than``, ``chunk`` rows per transaction. Never
        a parked or pending entry, and never the outbox's max seq: SQLite would hand that
        rowid out again (no AUTOINCREMENT), and a reused seq could look stale to a ledger."""
        cutoff: object = (
            _utc_seconds(older_than)
            if self.dialect == "sqlite"
            else (older_than if older_than.tzinfo else older_than.replace(tzinfo=UTC))
        )
        total = 0
        while True:
            with self.engine.begin() as conn:
                if not has_table(SqlAlchemyTx(conn), OUTBOX):
                    return total
                deleted = self._prune_chunk(conn, cutoff, chunk)
            total += deleted
            if deleted < chunk:
                return total

    def _prune_chunk(self, conn: Connection, cutoff: object, chunk: int) -> int:
        result = conn.execute(
            text(
                f"DELETE FROM {OUTBOX} WHERE seq IN (SELECT seq FROM {OUTBOX}"
                " WHERE aggregatetype = :a AND applied_at IS NOT NULL AND applied_at < :t"
                f" AND seq < (SELECT max(seq) FROM {OUTBOX}) ORDER BY seq LIMIT :n)"
            ),
            {"a": self.aggregate, "t": cutoff, "n": chunk},
        )
        return as_int(result.rowcount)
