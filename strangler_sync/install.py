"""Installing, removing and inspecting a capability's capture: idempotent, one transaction.

Everything runs in the caller's transaction (``tx``), so a re-install replaces the triggers
atomically: a writer sees the old triggers or the new ones, never none. On PostgreSQL it runs
under ``pg_advisory_xact_lock``, so two installers cannot interleave their DDL.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Literal

from acl.data import SqlTx
from strangler_sync.errors import CaptureError
from strangler_sync.params import as_int, in_list
from strangler_sync.schema import (
    CAPTURE,
    OUTBOX,
    PARKED,
    RELAY,
    now_sql,
    outbox_ddl,
    sync_ddl,
)
from strangler_sync.spec import CaptureSpec
from strangler_sync.triggers import (
    create_triggers,
    drop_triggers,
    spec_hash,
    trigger_names,
    trigger_tables,
)

# spec_hash of a capture that was removed but keeps its epoch and outbox rows
_REMOVED = "0" * 64


@dataclass(frozen=True, slots=True)
class CaptureState:
    """What a database holds for a capability. ``state``: installed (every trigger as the spec
    says), missing (some or all dropped: a migration rebuilt the table), drifted (installed
    from another spec: re-run ``strangler data capture CAP``), absent (not installed: never, or
    removed; ``epoch`` is kept after a remove without ``drop_outbox``)."""

    capability: str
    state: Literal["installed", "missing", "drifted", "absent"]
    epoch: str | None
    missing_triggers: tuple[str, ...] = ()
    pending: int = 0
    parked: int = 0


def _lock(tx: SqlTx) -> None:
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('strangler_capture'))")


def has_table(tx: SqlTx, name: str) -> bool:
    if tx.dialect == "sqlite":
        rows = tx.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n", {"n": name}
        )
        return bool(rows)
    return tx.execute("SELECT to_regclass(:n) IS NOT NULL", {"n": name})[0][0] is True


def _columns(tx: SqlTx, table: str) -> set[str]:
    if tx.dialect == "sqlite":
        rows = tx.execute("SELECT name FROM pragma_table_info(:t)", {"t": table})
    else:
        rows = tx.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = :t AND table_schema = current_schema()",
            {"t": table},
        )
    return {str(row[0]) for row in rows}


def _create_tables(tx: SqlTx) -> None:
    for statement in (*outbox_ddl(tx.dialect), *sync_ddl(tx.dialect)):
        tx.execute(statement)
    # a relay table made before the lease kept its cursor's epoch
    if "epoch" not in _columns(tx, RELAY):
        tx.execute(f"ALTER TABLE {RELAY} ADD COLUMN epoch varchar(36)")


def _ensure_epoch(tx: SqlTx, capability: str, marker: str) -> str:
    """The capability's epoch, made (fresh) only when it has none."""
    tx.execute(
        f"INSERT INTO {CAPTURE} (capability, epoch, spec_hash, installed_at)"
        f" VALUES (:c, :e, :h, {now_sql(tx.dialect)}) ON CONFLICT (capability) DO NOTHING",
        {"c": capability, "e": uuid.uuid4().hex, "h": marker},
    )
    return str(
        tx.execute(f"SELECT epoch FROM {CAPTURE} WHERE capability = :c", {"c": capability})[0][0]
    )


def _unique_alone(tx: SqlTx, table: str, column: str) -> bool:
    """``column`` is the primary key or under a unique index of its own (not partial)."""
    if tx.dialect == "sqlite":
        pk = tx.execute("SELECT name FROM pragma_table_info(:t) WHERE pk > 0", {"t": table})
        if [str(r[0]) for r in pk] == [column]:
            return True
        rows = tx.execute(
            "SELECT group_concat(i.name) FROM pragma_index_list(:t) l,"
            ' pragma_index_info(l.name) i WHERE l."unique" AND NOT l.partial'
            " GROUP BY l.name",
            {"t": table},
        )
        return any(str(r[0]) == column for r in rows)
    rows = tx.execute(
        "SELECT 1 FROM pg_index x JOIN pg_attribute a"
        " ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]"
        " WHERE x.indrelid = to_regclass(:t) AND x.indisunique AND x.indnkeyatts = 1"
        " AND x.indpred IS NULL AND a.attname = :c",
        {"t": table, "c": column},
    )
    return bool(rows)


def _check_tables(tx: SqlTx, spec: CaptureSpec) -> None:
    for table in spec.tables:
        have = _columns(tx, table.name)
        if not have:
            raise CaptureError(f"capability {spec.capability}: no table {table.name!r} here")
        lacking = [c for c in table.columns if c not in have]
        if lacking:
            raise CaptureError(
                f"capability {spec.capability}: table {table.name} has no column "
                + ", ".join(repr(c) for c in lacking)
            )
        # versions are commit-ordered per key only because a key is one row, whose lock
        # orders its writers; two rows of one key could commit against their seq order
        if not _unique_alone(tx, table.name, table.key):
            raise CaptureError(
                f"capability {spec.capability}: table {table.name}: the key column"
                f" {table.key!r} is neither the primary key nor under a unique index of its own"
            )


def install(tx: SqlTx, spec: CaptureSpec) -> CaptureState:
    """Create the sync tables if needed and (re)create the spec's triggers. Keeps the epoch of
    an earlier install, so re-running it changes nothing that a relay depends on."""
    _lock(tx)
    _check_tables(tx, spec)
    _create_tables(tx)
    wanted = spec_hash(spec)
    _ensure_epoch(tx, spec.capability, wanted)
    for statement in create_triggers(spec, tx.dialect):
        tx.execute(statement)
    tx.execute(
        f"UPDATE {CAPTURE} SET spec_hash = :h, installed_at = {now_sql(tx.dialect)}"
        " WHERE capability = :c",
        {"h": wanted, "c": spec.capability},
    )
    return inspect(tx, spec)


def ensure_outbox(tx: SqlTx, aggregate: str) -> str:
    """Create the sync tables if needed and an epoch for an outbox an application writes itself
    (``record()``, the service side, no triggers); returns the epoch. Idempotent."""
    _lock(tx)
    _create_tables(tx)
    marker = hashlib.sha256(f"recorded:{aggregate}".encode()).hexdigest()
    return _ensure_epoch(tx, aggregate, marker)


def remove(tx: SqlTx, spec: CaptureSpec, *, drop_outbox: bool = False) -> CaptureState:
    """Drop the spec's triggers; ``drop_outbox`` also forgets its epoch and outbox rows (the
    next install starts a new epoch, and targets admit its versions whatever they hold)."""
    _lock(tx)
    for statement in drop_triggers(spec, tx.dialect):
        tx.execute(statement)
    if has_table(tx, CAPTURE):
        if drop_outbox:
            tx.execute(f"DELETE FROM {CAPTURE} WHERE capability = :c", {"c": spec.capability})
            tx.execute(f"DELETE FROM {OUTBOX} WHERE aggregatetype = :c", {"c": spec.capability})
            tx.execute(f"DELETE FROM {PARKED} WHERE aggregatetype = :c", {"c": spec.capability})
            if has_table(tx, RELAY):
                # the SQLite relay's cursor: the new outbox's seqs start again from 1
                tx.execute(f"DELETE FROM {RELAY} WHERE capability = :c", {"c": spec.capability})
        else:
            tx.execute(
                f"UPDATE {CAPTURE} SET spec_hash = :h WHERE capability = :c",
                {"h": _REMOVED, "c": spec.capability},
            )
    return inspect(tx, spec)


def _present(tx: SqlTx, spec: CaptureSpec) -> set[str]:
    pairs = trigger_tables(spec, tx.dialect)
    names, params = in_list("t", [name for name, _ in pairs])
    if tx.dialect == "sqlite":
        rows = tx.execute(
            "SELECT name, tbl_name FROM sqlite_master"
            f" WHERE type = 'trigger' AND name IN ({names})",
            params,
        )
    else:
        rows = tx.execute(
            "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            f" WHERE NOT t.tgisinternal AND pg_table_is_visible(c.oid) AND t.tgname IN ({names})",
            params,
        )
    found = {(str(name), str(table)) for name, table in rows}
    return {name for name, table in pairs if (name, table) in found}


def _counts(tx: SqlTx, aggregate: str) -> tuple[int, int]:
    row = tx.execute(
        "SELECT coalesce(sum(CASE WHEN applied_at IS NULL AND parked_at IS NULL"
        " THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(CASE WHEN parked_at IS NOT NULL THEN 1 ELSE 0 END), 0)"
        f" FROM {OUTBOX} WHERE aggregatetype = :a",
        {"a": aggregate},
    )[0]
    return as_int(row[0]), as_int(row[1])


def _renamed(tx: SqlTx, spec: CaptureSpec) -> bool:
    """A captured column is gone from its table (a migration renamed or dropped it): the
    triggers still fire, but capture null for it."""
    return any(not set(t.columns) <= _columns(tx, t.name) for t in spec.tables)


def inspect(tx: SqlTx, spec: CaptureSpec) -> CaptureState:
    """What the database holds for ``spec``: its triggers (``sqlite_master`` or
    ``pg_trigger``) against the spec, the epoch, and the pending and parked outbox rows."""
    capability = spec.capability
    if not has_table(tx, CAPTURE):
        return CaptureState(capability, "absent", None)
    rows = tx.execute(
        f"SELECT epoch, spec_hash FROM {CAPTURE} WHERE capability = :c", {"c": capability}
    )
    present = _present(tx, spec)
    missing = tuple(n for n in trigger_names(spec, tx.dialect) if n not in present)
    if not rows:
        state: Literal["installed", "missing", "drifted", "absent"] = (
            "absent" if not present else "drifted"
        )
        return CaptureState(capability, state, None, missing)
    epoch, installed_hash = str(rows[0][0]), str(rows[0][1])
    pending, parked = _counts(tx, capability) if has_table(tx, OUTBOX) else (0, 0)
    if installed_hash == _REMOVED:
        state = "absent" if not present else "drifted"
    elif missing:
        state = "missing"
    elif installed_hash != spec_hash(spec) or _renamed(tx, spec):
        state = "drifted"
    else:
        state = "installed"
    return CaptureState(capability, state, epoch, missing, pending, parked)
