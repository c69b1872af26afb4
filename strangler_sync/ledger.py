"""The per-key version ledger, kept in the TARGET database and updated in the target's own
apply transaction: a later state is never overwritten by an earlier one, whatever the number
of relays, duplicate deliveries or crashes (docs/data.md, "why order holds").

``admit`` is the first thing an apply transaction does:

1. the echo guard (``echo.guard``): what this transaction writes is not captured again;
2. the ledger table exists; the ledger rows of the batch's keys are created if new and then
   locked (PostgreSQL: ``INSERT ... ON CONFLICT DO NOTHING`` + ``SELECT ... FOR UPDATE``;
   SQLite: that INSERT takes the database's write lock, held to the commit);
3. per key: **stale** when the ledger holds the same epoch and a version >= the change's (>=:
   a version delivered again after a crash is not written twice); another epoch is admitted
   (the source's outbox was re-created);
4. a **conflict** when ``target_aggregate`` is set (the other direction runs): the target's own
   newest outbox row of the key is newer than ``peer[key]``, the newest target change the
   source state includes; decided for the owner;
5. the ledger rows of the admitted keys, and of the changes that lost a conflict (settled,
   not written), are set to the change's version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from acl.data import Admission, Change, Conflict, Key, SqlTx, Version
from strangler_sync.echo import guard
from strangler_sync.install import has_table
from strangler_sync.newest import newest_seqs
from strangler_sync.params import as_int, member_of, parts
from strangler_sync.schema import LEDGER, OUTBOX, ledger_ddl, now_sql

# a ledger row made by step 2 for a key never applied: no epoch matches it
_NEW_EPOCH = ""
_NEW_VERSION = -1
_ROWS_PER_STATEMENT = 100  # 3 parameters a row


class SqlLedger:
    """``acl.data.Ledger`` over ``strangler_sync_ledger``.

    ``owner`` is who wins a conflict ("source": the side the change comes from, "target": the
    side it goes to). ``peer`` holds, per key, the target's own changes the source state already
    includes (the source db's ledger for the other direction, ``ChangeLog.ledger_versions``);
    ``target_aggregate`` names the target's outbox rows of this data, when the other direction
    runs (None: no conflicts). ``echo_capability`` is the capture the apply must not trigger
    in the target (default: ``capability``; the service side's aggregate, e.g. ``stock``)."""

    def __init__(
        self,
        capability: str,
        direction: Literal["forward", "back"],
        *,
        owner: Literal["source", "target"] = "source",
        peer: Mapping[Key, Version] | None = None,
        target_aggregate: str | None = None,
        echo_capability: str | None = None,
    ) -> None:
        self.capability = capability
        self.direction = direction
        self.owner = owner
        self.peer = dict(peer or {})
        self.target_aggregate = target_aggregate
        self.echo_capability = echo_capability

    def admit(self, tx: SqlTx, changes: Sequence[Change]) -> Admission:
        guard(tx, self.echo_capability or self.capability)
        if not changes:
            return Admission(write=())
        if not has_table(tx, LEDGER):
            if tx.dialect == "postgresql":  # two first applies must not race the DDL
                tx.execute("SELECT pg_advisory_xact_lock(hashtext('strangler_capture'))")
            tx.execute(ledger_ddl(tx.dialect))
        if tx.dialect == "postgresql":
            # custom plans for this transaction: a generic plan cached (psycopg prepares a
            # statement run 5 times) while the ledger was nearly empty looks the keys up by
            # filtering every row of the capability, 0.1-0.2 s a batch once it has grown
            tx.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        keys = sorted({change.key for change in changes})  # sorted: one lock order for all
        held, placeholders = self._lock(tx, keys)
        newest = _target_newest(tx, self.target_aggregate, keys) if self.target_aggregate else {}
        write: list[Change] = []
        decided: list[Change] = []  # lost to the target: not written, but settled
        stale: list[Key] = []
        conflicts: list[Conflict] = []
        for change in changes:
            version = change.version
            have = held.get(change.key)
            if have is not None and have.epoch == version.epoch and have.seq >= version.seq:
                stale.append(change.key)
                continue
            conflict = self._conflict(change.key, newest)
            if conflict is not None:
                conflicts.append(conflict)
                if conflict.winner == "target":
                    # the version is recorded though not written: the other direction's
                    # relay reads this ledger as its ``peer``, and must not find the
                    # settled change again (one more conflict per later change of the key)
                    decided.append(change)
                    held[change.key] = version
                    continue
            write.append(change)
            held[change.key] = version
        settled = list({change.key: change for change in [*decided, *write]}.values())
        self._set(tx, settled)
        done = {change.key for change in settled}
        self._forget_new(tx, [key for key in placeholders if key not in done])
        return Admission(write=tuple(write), stale=tuple(stale), conflicts=tuple(conflicts))

    def _lock(self, tx: SqlTx, keys: Sequence[Key]) -> tuple[dict[Key, Version], list[Key]]:
        """The ledger's versions of ``keys``, their rows locked, and the keys whose rows are
        placeholders (made now, or left by a transaction that did not write them)."""
        held: dict[Key, Version] = {}
        placeholders: list[Key] = []
        new = f"'{_NEW_EPOCH}', {_NEW_VERSION}, {now_sql(tx.dialect)}"
        for part in parts(tx.dialect, keys, _ROWS_PER_STATEMENT):
            params: dict[str, object] = {"c": self.capability, "d": self.direction}
            if tx.dialect == "postgresql":
                rows_sql = f"SELECT :c, :d, k, {new} FROM unnest(CAST(:keys AS text[])) AS k"
                params["keys"] = list(part)
            else:
                rows_sql = "VALUES " + ", ".join(
                    f"(:c, :d, :k{i}, {new})" for i in range(len(part))
                )
                params |= {f"k{i}": key for i, key in enumerate(part)}
            tx.execute(
                f"INSERT INTO {LEDGER} (capability, direction, key, epoch, version, applied_at)"
                f" {rows_sql} ON CONFLICT (capability, direction, key) DO NOTHING",
                params,
            )
            member, key_params = member_of(tx.dialect, "key", "k", part)
            lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
            rows = tx.execute(
                f"SELECT key, epoch, version FROM {LEDGER}"
                f" WHERE capability = :c AND direction = :d AND {member}"
                f" ORDER BY key{lock}",
                {"c": self.capability, "d": self.direction, **key_params},
            )
            for key, epoch, version in rows:
                if as_int(version) > _NEW_VERSION:
                    held[str(key)] = Version(str(epoch), as_int(version))
                else:
                    placeholders.append(str(key))
        return held, placeholders

    def _conflict(self, key: Key, newest: Mapping[Key, Version]) -> Conflict | None:
        """Both sides changed ``key``: the target holds a change the source state lacks."""
        mine = newest.get(key)
        if mine is None:
            return None
        included = self.peer.get(key)
        if included is not None and (included.epoch != mine.epoch or included.seq >= mine.seq):
            # another epoch: the target's outbox was re-created, its seqs say nothing here
            return None
        winner: Literal["source", "target"] = "target" if self.owner == "target" else "source"
        return Conflict(key, winner, mine.seq)

    def _set(self, tx: SqlTx, write: Sequence[Change]) -> None:
        now = now_sql(tx.dialect)
        for part in parts(tx.dialect, write, _ROWS_PER_STATEMENT):
            params: dict[str, object] = {"c": self.capability, "d": self.direction}
            if tx.dialect == "postgresql":
                rows_sql = (
                    f"SELECT :c, :d, k, e, v, {now} FROM unnest(CAST(:keys AS text[]),"
                    " CAST(:epochs AS text[]), CAST(:versions AS bigint[])) AS u(k, e, v)"
                )
                params["keys"] = [change.key for change in part]
                params["epochs"] = [change.version.epoch for change in part]
                params["versions"] = [change.version.seq for change in part]
            else:
                rows_sql = "VALUES " + ", ".join(
                    f"(:c, :d, :k{i}, :e{i}, :v{i}, {now})" for i in range(len(part))
                )
                for i, change in enumerate(part):
                    params |= {
                        f"k{i}": change.key,
                        f"e{i}": change.version.epoch,
                        f"v{i}": change.version.seq,
                    }
            tx.execute(
                f"INSERT INTO {LEDGER} (capability, direction, key, epoch, version, applied_at)"
                f" {rows_sql} ON CONFLICT (capability, direction, key) DO UPDATE SET"
                " epoch = excluded.epoch, version = excluded.version,"
                " applied_at = excluded.applied_at",
                params,
            )

    def _forget_new(self, tx: SqlTx, unset: Sequence[Key]) -> None:
        """Drop the placeholder rows of keys this batch did not set (all stale): not a
        statement at all in the usual batch, where every new key is set."""
        for part in parts(tx.dialect, unset):
            member, params = member_of(tx.dialect, "key", "k", part)
            tx.execute(
                f"DELETE FROM {LEDGER} WHERE capability = :c AND direction = :d"
                f" AND version = {_NEW_VERSION} AND {member}",
                {"c": self.capability, "d": self.direction, **params},
            )


def ledger_epochs(tx: SqlTx, capability: str, direction: str) -> set[str]:
    """The capture epochs this target's ledger holds versions of (``data status``: another
    epoch than the source's means the capture was re-created since)."""
    if not has_table(tx, LEDGER):
        return set()
    rows = tx.execute(
        f"SELECT DISTINCT epoch FROM {LEDGER} WHERE capability = :c AND direction = :d"
        " AND version >= 0",
        {"c": capability, "d": direction},
    )
    return {str(epoch) for (epoch,) in rows}


def restamp(tx: SqlTx, capability: str, direction: str, epoch: str) -> int:
    """After a full copy the target holds the source's state: versions of another epoch become
    ``(epoch, 0)``, below every change the source captures in ``epoch``. Returns how many."""
    if not has_table(tx, LEDGER):
        return 0
    rows = tx.execute(
        f"UPDATE {LEDGER} SET epoch = :e, version = 0 WHERE capability = :c AND direction = :d"
        " AND epoch <> :e AND version >= 0 RETURNING key",
        {"c": capability, "d": direction, "e": epoch},
    )
    return len(rows)


def _target_newest(tx: SqlTx, aggregate: str, keys: Sequence[Key]) -> dict[Key, Version]:
    """The target's own newest outbox row per key (its application's changes: a sync's
    applies are never captured there)."""
    if not has_table(tx, OUTBOX):
        return {}
    newest = newest_seqs(tx, aggregate, keys)
    return {key: Version(epoch or "", seq) for key, (seq, epoch) in newest.items()}
