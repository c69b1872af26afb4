"""The data sync's database contract, shared by everyone who touches a captured database.

``strangler data sync CAP`` keeps a service's copy of a capability's rows in step with the
monolith while both run (and the monolith's with the service's after cutover). Four parties
need the same SQL: the operator's installer and relay (``strangler.data``), the Django app
(re-installing capture after ``migrate``), an extracted service's chassis (its own outbox), and
a reverse target inside the monolith. So it lives here, in a library that imports no Django,
no aiohttp and nothing of the toolkit but ``acl``'s port types:

    spec.py       CaptureSpec, CapturedTable: which tables and columns a capability covers
    schema.py     the tables: strangler_outbox (Debezium's outbox columns), strangler_capture,
                  strangler_sync_ledger, strangler_parked, strangler_relay; per dialect
    triggers.py   capture triggers generated from a spec (SQLite and PostgreSQL)
    install.py    install / remove / inspect capture, idempotently
    sqltx.py      SqlAlchemyTx: acl.data.SqlTx over a SQLAlchemy connection; sync_engine()
    changelog.py  ChangeLog: claim, fence, mark applied, park, unpark, stats, prune
    newest.py     the newest outbox seq per key (the fence; the ledger's conflict check)
    ledger.py     SqlLedger: the per-key version compare-and-set inside a target's transaction
    echo.py       guard(): a sync's own apply is never captured again
    recording.py  record(): an application writes its own outbox rows (the service side)

Design and proofs: docs/data.md.
"""

from strangler_sync.changelog import ChangeLog, Claim, Entry, OutboxStats
from strangler_sync.echo import guard, unguard
from strangler_sync.errors import CaptureError, SyncError
from strangler_sync.install import CaptureState, ensure_outbox, inspect, install, remove
from strangler_sync.ledger import SqlLedger, ledger_epochs, restamp
from strangler_sync.recording import record
from strangler_sync.spec import Capture, CapturedTable, CaptureSpec
from strangler_sync.sqltx import SqlAlchemyTx, sync_engine

__all__ = [
    "Capture",
    "CaptureError",
    "CaptureSpec",
    "CaptureState",
    "CapturedTable",
    "ChangeLog",
    "Claim",
    "Entry",
    "OutboxStats",
    "SqlAlchemyTx",
    "SqlLedger",
    "SyncError",
    "ensure_outbox",
    "guard",
    "inspect",
    "install",
    "ledger_epochs",
    "record",
    "remove",
    "restamp",
    "sync_engine",
    "unguard",
]
