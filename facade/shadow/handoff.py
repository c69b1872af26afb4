"""The hand-off from the event loop to the compare worker: bounded in count and in bytes.

The loop side never waits: a full hand-off refuses the job (the caller counts the drop). The
worker waits with a timeout, so it can flush what it buffered when traffic pauses.
"""

from __future__ import annotations

import queue
import threading

from facade.shadow.job import COMPARE_QUEUE, COMPARE_QUEUE_BYTES, Compared


class Handoff:
    """At most ``maxsize`` finished calls and ``max_bytes`` of their bodies."""

    def __init__(
        self, *, maxsize: int = COMPARE_QUEUE, max_bytes: int = COMPARE_QUEUE_BYTES
    ) -> None:
        self.max_bytes = max_bytes
        self._queue: queue.Queue[Compared | None] = queue.Queue(maxsize)
        self._bytes = 0  # of the bodies queued; under _lock (two threads)
        self._lock = threading.Lock()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def queued_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def put(self, item: Compared) -> bool:
        """Queue ``item`` unless that passes either bound (the loop side; never blocks)."""
        size = item.size
        with self._lock:
            if self._bytes + size > self.max_bytes:
                return False
            self._bytes += size
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._release(size)
            return False
        return True

    def get(self, timeout: float | None) -> Compared | None:
        """The next item (the worker's side); None once ``stop()`` was called; ``queue.Empty``
        after ``timeout`` seconds without one."""
        item = self._queue.get(timeout=timeout)
        if item is not None:
            self._release(item.size)
        return item

    def stop(self, timeout: float) -> None:
        """Tell the worker to finish what is queued, then end (blocks while the queue is full)."""
        self._queue.put(None, timeout=timeout)

    def _release(self, size: int) -> None:
        with self._lock:
            self._bytes -= size
