"""The sync's tables, per dialect. Names are part of the contract (docs/data.md):

strangler_outbox       captured changes; Debezium's outbox columns (id, aggregatetype,
                       aggregateid, type, payload) plus seq, captured_at, origin,
                       applied_at, parked_at
strangler_capture      one row per installed capability: its epoch and spec hash
strangler_sync_ledger  (capability, direction, key) -> (epoch, version): in the TARGET db
strangler_parked       rows that could not move: key, stage, reason, attempts
strangler_relay        the SQLite relay's lease per (capability, direction)

Timestamps: PostgreSQL ``timestamptz``; SQLite ``REAL`` epoch seconds (ms precision;
``unixepoch('subsec')`` would need SQLite 3.42).
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

OUTBOX = "strangler_outbox"
CAPTURE = "strangler_capture"
LEDGER = "strangler_sync_ledger"
PARKED = "strangler_parked"
RELAY = "strangler_relay"

# "now" as each dialect stores it. PostgreSQL's clock_timestamp(), not now(): now() is the
# transaction's start, and a long transaction would date its changes too early
SQLITE_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
POSTGRES_NOW = "clock_timestamp()"


def now_sql(dialect: Dialect) -> str:
    return SQLITE_NOW if dialect == "sqlite" else POSTGRES_NOW


def epoch_seconds_sql(dialect: Dialect, column: str) -> str:
    """``column`` (a stored timestamp) as epoch seconds in a SELECT."""
    return column if dialect == "sqlite" else f"extract(epoch from {column})"


_POSTGRES_OUTBOX = (
    f"""CREATE TABLE IF NOT EXISTS {OUTBOX} (
  seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  aggregatetype varchar(255) NOT NULL,
  aggregateid   varchar(255) NOT NULL,
  type          varchar(255) NOT NULL,
  payload       jsonb,
  captured_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  origin        varchar(64) NOT NULL DEFAULT 'app',
  applied_at    timestamptz,
  parked_at     timestamptz)""",
    f"""CREATE INDEX IF NOT EXISTS {OUTBOX}_pending ON {OUTBOX} (aggregatetype, seq)
  WHERE applied_at IS NULL AND parked_at IS NULL""",
    f"CREATE INDEX IF NOT EXISTS {OUTBOX}_key ON {OUTBOX} (aggregatetype, aggregateid, seq)",
)

# seq is the rowid: no AUTOINCREMENT (it would write sqlite_sequence on every capture), and
# no partial pending index (the single relay scans seq > its cursor on the rowid): the
# capture trigger stays as cheap as SQLite allows. Without AUTOINCREMENT a deleted max rowid
# is reused, so prune() never deletes the max seq.
_SQLITE_OUTBOX = (
    f"""CREATE TABLE IF NOT EXISTS {OUTBOX} (
  seq           INTEGER PRIMARY KEY,
  id            TEXT NOT NULL DEFAULT (lower(hex(randomblob(16)))),
  aggregatetype VARCHAR(255) NOT NULL,
  aggregateid   VARCHAR(255) NOT NULL,
  type          VARCHAR(255) NOT NULL,
  payload       TEXT,
  captured_at   REAL NOT NULL DEFAULT {SQLITE_NOW},
  origin        VARCHAR(64) NOT NULL DEFAULT 'app',
  applied_at    REAL,
  parked_at     REAL)""",
    f"CREATE INDEX IF NOT EXISTS {OUTBOX}_key ON {OUTBOX} (aggregatetype, aggregateid, seq)",
)

# the same in both dialects but for timestamps (SQLite: REAL epoch seconds) and the keys'
# collation (SQLite compares bytes already; PostgreSQL's default follows the locale)
_SYNC = (
    f"""CREATE TABLE IF NOT EXISTS {CAPTURE} (
  capability   varchar(255) PRIMARY KEY,
  epoch        varchar(36) NOT NULL,
  spec_hash    char(64) NOT NULL,
  installed_at {{ts}} NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
  capability varchar(255) NOT NULL,
  direction  varchar(16) NOT NULL,
  key        varchar(255){{collate}} NOT NULL,
  epoch      varchar(36) NOT NULL,
  version    bigint NOT NULL,
  applied_at {{ts}} NOT NULL,
  PRIMARY KEY (capability, direction, key))""",
    f"""CREATE TABLE IF NOT EXISTS {PARKED} (
  seq             bigint PRIMARY KEY,
  aggregatetype   varchar(255) NOT NULL,
  aggregateid     varchar(255) NOT NULL,
  stage           varchar(16) NOT NULL,
  field           text NOT NULL,
  reason          text NOT NULL,
  attempts        int NOT NULL,
  first_parked_at {{ts}} NOT NULL,
  last_tried_at   {{ts}} NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {RELAY} (
  capability  varchar(255) NOT NULL,
  direction   varchar(16) NOT NULL,
  holder      text NOT NULL,
  lease_until {{ts}} NOT NULL,
  cursor_seq  bigint NOT NULL DEFAULT 0,
  epoch       varchar(36),
  PRIMARY KEY (capability, direction))""",
)
_POSTGRES_SYNC = tuple(t.format(ts="timestamptz", collate=' COLLATE "C"') for t in _SYNC)
_SQLITE_SYNC = tuple(t.format(ts="REAL", collate="") for t in _SYNC)


def outbox_ddl(dialect: Dialect) -> tuple[str, ...]:
    """``CREATE ... IF NOT EXISTS`` statements of the outbox and its indexes."""
    return _SQLITE_OUTBOX if dialect == "sqlite" else _POSTGRES_OUTBOX


def sync_ddl(dialect: Dialect) -> tuple[str, ...]:
    """The capture, ledger, parked and relay tables (``IF NOT EXISTS``)."""
    return _SQLITE_SYNC if dialect == "sqlite" else _POSTGRES_SYNC


def ledger_ddl(dialect: Dialect) -> str:
    """The ledger table alone: a target database that holds no outbox still needs it."""
    return sync_ddl(dialect)[1]
