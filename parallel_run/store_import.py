"""``parallel_run.store`` (SQLAlchemy and alembic) imported on first use, one thread at a time.

The facade imports the store only once something needs it (importing it was about a second of
the facade's start), so the first import happens in whichever thread needs it first: the
recorder's, the compare worker's, the audit trail's. Two threads importing SQLAlchemy at once
can each meet the other's half-initialised modules (its packages import each other: "cannot
import name ... from partially initialized module"). Every thread that may be the first calls
``load_store()`` before its own imports of the store or of modules that import it.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()


def load_store() -> None:
    """Import ``parallel_run.store`` and with it SQLAlchemy and alembic, if not done yet."""
    with _lock:
        import parallel_run.store  # noqa: F401
