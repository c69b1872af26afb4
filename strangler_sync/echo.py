"""No echo: a change the sync applies is never captured again by that capability.

PostgreSQL: ``set_config('strangler.sync_origin', capability, true)`` (transaction-local, as
``SET LOCAL``), read by the capture function, which then returns early. Other capabilities on
the same table still capture: a reverse inventory apply writes ``stock``, and product-catalog
must still carry it to the catalog.

SQLite: a main-schema trigger cannot read a TEMP table (``no such table: main.echo`` at run
time), so capture cannot check a per-connection flag. Instead a TEMP trigger on
``main.strangler_outbox``, which only fires for this connection's own inserts, deletes the
rows of ``capability`` in the statement that made them: they are never committed, no one
sees them. The TEMP trigger lives as long as the CONNECTION: a connection that applies a
sync must write nothing else of that capability (the relay's own connections, a reverse
target's own engine). That is why nothing shipped calls ``unguard``: those engines belong to
the sync alone, so the guard may stay until the connection closes. Code that applies a sync on
a connection it then hands back to a pool the application also writes through must call
``unguard`` first, or the application's own changes of that capability would go uncaptured.
"""

from __future__ import annotations

from acl.data import SqlTx
from strangler_sync.install import has_table
from strangler_sync.schema import OUTBOX
from strangler_sync.spec import check_capability


def _temp_trigger(capability: str) -> str:
    return "strangler_echo__" + capability.replace("-", "_").replace(".", "_")


def guard(tx: SqlTx, capability: str) -> None:
    """Make ``tx``'s own writes invisible to ``capability``'s capture (see the module doc)."""
    check_capability(capability)  # it is inlined in the SQLite trigger's WHEN
    if tx.dialect == "postgresql":
        tx.execute("SELECT set_config('strangler.sync_origin', :c, true)", {"c": capability})
        return
    if not has_table(tx, OUTBOX):
        return  # nothing captured in this database: nothing to echo
    # a DELETE inside a trigger may not name a schema: strangler_outbox resolves to main's
    tx.execute(
        f"CREATE TEMP TRIGGER IF NOT EXISTS {_temp_trigger(capability)}"
        f" AFTER INSERT ON main.{OUTBOX} WHEN NEW.aggregatetype = '{capability}'"
        f" BEGIN DELETE FROM {OUTBOX} WHERE seq = NEW.seq; END"
    )


def unguard(tx: SqlTx, capability: str) -> None:
    """Drop the SQLite guard of ``capability`` from this connection (PostgreSQL: nothing to do,
    the setting ended with its transaction)."""
    check_capability(capability)
    if tx.dialect == "sqlite":
        tx.execute(f"DROP TRIGGER IF EXISTS temp.{_temp_trigger(capability)}")
