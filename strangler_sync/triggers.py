"""Capture triggers generated from a CaptureSpec: every write path (ORM, ``update()``,
``bulk_create``, raw SQL, the admin) lands an outbox row in the writer's own transaction.

Per captured table: an INSERT makes an ``upsert`` row, an UPDATE that changes a captured
column makes an ``upsert`` row (and a ``delete`` row of the old key when the key itself
changed: a rename is a delete plus an upsert), a DELETE makes a ``delete`` row. An UPDATE that
rewrites equal values (Django's ``save()`` of an unchanged object) makes none.

Identifiers come from a validated spec (plain names only) and the capability is a plain
routes.yaml name, so both are inlined into the SQL; nothing else is.
"""

from __future__ import annotations

import hashlib
import json

from strangler_sync.schema import OUTBOX, Dialect
from strangler_sync.spec import CapturedTable, CaptureSpec

_MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently; inspect would miss them
_GENERATOR = "2"  # bump when the generated SQL changes: installed triggers then show drifted


def spec_hash(spec: CaptureSpec) -> str:
    """What ``strangler_capture.spec_hash`` holds: the spec and the generator's version."""
    shape = {
        "generator": _GENERATOR,
        "capability": spec.capability,
        "payload": spec.payload,
        "tables": [[t.name, t.key, list(t.columns)] for t in spec.tables],
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def _base(spec: CaptureSpec, table: CapturedTable) -> str:
    capability = spec.capability.replace("-", "_").replace(".", "_")
    name = f"strangler__{capability}__{table.name}"
    if len(name) + len("__insdel") > _MAX_IDENTIFIER:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{name[: _MAX_IDENTIFIER - len('__insdel') - 12]}__{digest}"
    return name


def _names(spec: CaptureSpec, table: CapturedTable, dialect: Dialect) -> tuple[str, ...]:
    base = _base(spec, table)
    if dialect == "sqlite":
        return (f"{base}__ins", f"{base}__upd", f"{base}__del")
    return (f"{base}__insdel", f"{base}__upd")  # INSERT OR DELETE; UPDATE (WHEN needs its own)


def function_name(spec: CaptureSpec, table: CapturedTable) -> str:
    """The PostgreSQL function both of a table's triggers execute."""
    return _base(spec, table)


def trigger_names(spec: CaptureSpec, dialect: Dialect) -> tuple[str, ...]:
    """The triggers ``install`` creates for ``spec`` (what ``inspect`` looks for)."""
    return tuple(name for table in spec.tables for name in _names(spec, table, dialect))


def trigger_tables(spec: CaptureSpec, dialect: Dialect) -> tuple[tuple[str, str], ...]:
    """(trigger, table) pairs: PostgreSQL names a trigger per table."""
    return tuple(
        (name, table.name) for table in spec.tables for name in _names(spec, table, dialect)
    )


def _payload(spec: CaptureSpec, table: CapturedTable, row: str) -> str:
    columns = table.columns if spec.payload == "row" else (table.key,)
    pairs = ", ".join(f"'{c}', {row}.{c}" for c in columns)
    return f"json_object({pairs})"


def _key_payload(table: CapturedTable, row: str) -> str:
    return f"json_object('{table.key}', {row}.{table.key})"


def _changed(table: CapturedTable, distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in table.columns)


def _sqlite(spec: CaptureSpec, table: CapturedTable) -> tuple[str, ...]:
    ins, upd, dele = _names(spec, table, "sqlite")
    cap, key, t = spec.capability, table.key, table.name
    insert = f"INSERT INTO {OUTBOX} (aggregatetype, aggregateid, type, payload)"
    payload = _payload(spec, table, "NEW")
    upsert = f"{insert}\n  VALUES ('{cap}', NEW.{key}, 'upsert', {payload});"
    return (
        f"DROP TRIGGER IF EXISTS {ins}",
        f"CREATE TRIGGER {ins} AFTER INSERT ON {t} BEGIN\n  {upsert}\nEND",
        f"DROP TRIGGER IF EXISTS {upd}",
        f"CREATE TRIGGER {upd} AFTER UPDATE OF {', '.join(table.columns)} ON {t}\n"
        f"WHEN {_changed(table, 'IS NOT')}\nBEGIN\n  {upsert}\n"
        f"  {insert}\n  SELECT '{cap}', OLD.{key}, 'delete', {_key_payload(table, 'OLD')}"
        f" WHERE OLD.{key} IS NOT NEW.{key};\nEND",
        f"DROP TRIGGER IF EXISTS {dele}",
        f"CREATE TRIGGER {dele} AFTER DELETE ON {t} BEGIN\n  {insert}\n"
        f"  VALUES ('{cap}', OLD.{key}, 'delete', {_key_payload(table, 'OLD')});\nEND",
    )


def _jsonb_payload(spec: CaptureSpec, table: CapturedTable, row: str) -> str:
    columns = table.columns if spec.payload == "row" else (table.key,)
    pairs = ", ".join(f"'{c}', {row}->'{c}'" for c in columns)
    return f"jsonb_build_object({pairs})"


def _postgres(spec: CaptureSpec, table: CapturedTable) -> tuple[str, ...]:
    # The function reads the row as jsonb, never NEW.col by name: a migration that renames or
    # drops a captured column (Django drops with CASCADE, leaving this function behind) must
    # not break the monolith's own writes. A missing column reads as null, inspect says
    # drifted; a missing key writes no outbox row (aggregateid is NOT NULL) rather than fail.
    insdel, upd = _names(spec, table, "postgresql")
    function = function_name(spec, table)
    cap, key, t = spec.capability, table.key, table.name
    insert = f"INSERT INTO {OUTBOX} (aggregatetype, aggregateid, type, payload)"

    # One table: a key is one row (install checks it is unique), whose lock orders writers,
    # so seq order is commit order per key. Several tables: two rows of one key would not
    # wait for each other, so the key's own lock, held to commit, takes the row lock's place.
    def lock(row: str) -> str:
        if len(spec.tables) == 1:
            return ""
        hashed = f"hashtextextended('{cap}:' || ({row}->>'{key}'), 0)"
        return f"PERFORM pg_advisory_xact_lock({hashed});\n      "

    body = f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql AS $strangler$
DECLARE
  n jsonb;
  o jsonb;
BEGIN
  IF coalesce(current_setting('strangler.sync_origin', true), '') = '{cap}' THEN
    RETURN NULL;  -- an apply by this capability's own sync: no echo
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    n := to_jsonb(NEW);
    IF n->>'{key}' IS NOT NULL THEN
      {lock("n")}{insert}
      VALUES ('{cap}', n->>'{key}', 'upsert', {_jsonb_payload(spec, table, "n")});
    END IF;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    o := to_jsonb(OLD);
    IF o->>'{key}' IS NOT NULL
       AND (TG_OP = 'DELETE' OR o->'{key}' IS DISTINCT FROM n->'{key}') THEN
      {lock("o")}{insert}
      VALUES ('{cap}', o->>'{key}', 'delete', jsonb_build_object('{key}', o->'{key}'));
    END IF;
  END IF;
  RETURN NULL;
END $strangler$"""
    return (
        body,
        f"DROP TRIGGER IF EXISTS {insdel} ON {t}",
        f"CREATE TRIGGER {insdel} AFTER INSERT OR DELETE ON {t}\n"
        f"  FOR EACH ROW EXECUTE FUNCTION {function}()",
        f"DROP TRIGGER IF EXISTS {upd} ON {t}",
        f"CREATE TRIGGER {upd} AFTER UPDATE OF {', '.join(table.columns)} ON {t}\n"
        f"  FOR EACH ROW WHEN ({_changed(table, 'IS DISTINCT FROM')})\n"
        f"  EXECUTE FUNCTION {function}()",
    )


def create_triggers(spec: CaptureSpec, dialect: Dialect) -> tuple[str, ...]:
    """DROP IF EXISTS + CREATE statements for every trigger (and PostgreSQL function)."""
    build = _sqlite if dialect == "sqlite" else _postgres
    return tuple(statement for table in spec.tables for statement in build(spec, table))


def drop_triggers(spec: CaptureSpec, dialect: Dialect) -> tuple[str, ...]:
    if dialect == "sqlite":
        return tuple(f"DROP TRIGGER IF EXISTS {name}" for name in trigger_names(spec, dialect))
    statements: list[str] = []
    for table in spec.tables:
        names = _names(spec, table, dialect)
        statements += [f"DROP TRIGGER IF EXISTS {n} ON {table.name}" for n in names]
        statements.append(f"DROP FUNCTION IF EXISTS {function_name(spec, table)}()")
    return tuple(statements)
