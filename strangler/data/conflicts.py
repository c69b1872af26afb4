"""Counting a conflict once when both directions of one relay process decide it.

Each direction sees the other side's change pending, so in ``canary`` and ``extracted`` both
may decide the same conflict in the same instant (their applies run in different databases,
under no common lock). Their records name the same lost change (``Relay._record``): the
store keeps that row once, and this set keeps the counters (``conflicts_total`` in the
heartbeat, ``strangler_sync_conflicts_total``) from counting it twice in one process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from parallel_run.sync_evidence import ConflictRecord

# plenty for the conflicts of one lag window; the oldest are forgotten first
REMEMBERED = 10_000

Identity = tuple[str, str, str, int]


def identity(record: ConflictRecord) -> Identity:
    """What the store's unique key holds: capability, key, loser side, the lost change."""
    return (record.capability, record.key, record.loser_side, record.target_seq)


class SeenConflicts:
    """The conflicts already counted by this process, shared by its relays' threads."""

    def __init__(self, limit: int = REMEMBERED) -> None:
        self._seen: OrderedDict[Identity, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def first(self, record: ConflictRecord) -> bool:
        """True the first time ``record``'s conflict is seen."""
        key = identity(record)
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)
            return True


PROCESS = SeenConflicts()
