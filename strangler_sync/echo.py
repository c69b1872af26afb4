"""No echo: a change the sync applies is never captured again by that capability.

PostgreSQL: ``set_config('strangler.sync_origin', capability, true)`` (transaction-local),
read by the capture function. SQLite: a TEMP trigger on the applying connection deletes the
outbox rows of the capability its own statements produce. Both are scoped to the sync's
transaction or connection and cannot switch capture off for the application.
"""

from __future__ import annotations

from acl.data import SqlTx


def guard(tx: SqlTx, capability: str) -> None:
    raise NotImplementedError
