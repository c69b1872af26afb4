"""The relay's health, written into the result store, where ``status``, ``cutover`` and
``report`` read it without opening the monolith's or a service's database.

Every ``HEARTBEAT`` seconds a relay upserts its row (lag, pending, parked, totals, capture
state, last error). Per batch it hands over the windows ``[captured_at, applied_at)`` of the
keys it applied (the report's "possibly stale" flag) and the conflicts it decided; those are
buffered and written with the next heartbeat, so a busy relay writes the store about once every
two seconds, not once a batch. A store that cannot be written is logged (throttled) and never
stops the sync: the store is evidence, the databases are the data.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from facade.throttle import LogThrottle
from parallel_run.sync_evidence import (
    ConflictRecord,
    SyncHealth,
    SyncWindow,
    record_conflicts,
    record_windows,
    write_health,
)
from strangler.data.faults import describe

if TYPE_CHECKING:
    from parallel_run.store import ResultStore

HEARTBEAT = 2.0  # seconds; the gate counts a heartbeat older than 10 s as no relay
STORE_LOG_INTERVAL = 60.0


def relay_name() -> str:
    """``host:pid``: which relay a health row belongs to."""
    return f"{socket.gethostname()}:{os.getpid()}"


class HealthSink(Protocol):
    def beat(self, health: SyncHealth) -> None: ...

    def windows(self, windows: Sequence[SyncWindow]) -> None: ...

    def conflicts(self, conflicts: Sequence[ConflictRecord]) -> None: ...


class StoreHealth:
    """``HealthSink`` over the result store; ``beat`` also flushes the buffered rows. Shared by
    the relays of one process (forward and back run in threads)."""

    def __init__(
        self,
        store: ResultStore,
        *,
        log: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._log = log
        self._throttle = LogThrottle(interval=STORE_LOG_INTERVAL, clock=clock)
        self._windows: list[SyncWindow] = []
        self._conflicts: list[ConflictRecord] = []
        self._lock = threading.Lock()

    def windows(self, windows: Sequence[SyncWindow]) -> None:
        with self._lock:
            self._windows.extend(windows)

    def conflicts(self, conflicts: Sequence[ConflictRecord]) -> None:
        with self._lock:
            self._conflicts.extend(conflicts)

    def beat(self, health: SyncHealth) -> None:
        with self._lock:
            windows, self._windows = self._windows, []
            conflicts, self._conflicts = self._conflicts, []
        try:
            write_health(self._store, health)
            if conflicts:
                record_conflicts(self._store, conflicts)
                conflicts = []
            if windows:
                record_windows(self._store, windows)
        except Exception as exc:  # evidence only: the sync goes on without it
            with self._lock:  # kept for the next beat, bounded: the store may be down for long
                self._windows[:0] = windows[-10_000:]
                self._conflicts[:0] = conflicts[-1_000:]
            count = self._throttle.due()
            if count is not None:
                self._log(
                    f"cannot write sync health to the result store ({count} tries): "
                    f"{type(exc).__name__}: {describe(exc)}"
                )
