"""What the facade derives from one loaded configuration, kept exactly as long as it is used.

A reload swaps ``LiveConfig.current`` whole; a request that started before it keeps the old
``Config`` to its end, and so does a shadow job its request's. What is derived from a
configuration (its upstream clients, comparison rules, the shadow calls' pools) is therefore
keyed by the ``Config`` object itself and dropped when the last reference to that object goes:
at most the configuration in force plus those still in use by in-flight work, with no count to
tune (the "clear at N" caches this replaces either dropped the current entries with the old
ones, or kept configurations reloaded away until N more came).

``on_drop`` receives what was derived once its configuration is gone: nothing can be using it
any more, so closing it cuts no call. It runs in whichever thread let go of the configuration
last (the event loop, or a worker thread that held a job): hand loop-bound work to the loop.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from facade.config.model import Config

T = TypeVar("T")


class PerConfig(Generic[T]):
    """``make(config)`` once per live ``Config``; thread-safe."""

    def __init__(
        self, make: Callable[[Config], T], *, on_drop: Callable[[T], None] | None = None
    ) -> None:
        self._make = make
        self._on_drop = on_drop
        # reentrant: the collector may free a configuration (one caught in a cycle) at any
        # allocation, in the thread that holds the lock, and its drop takes the lock too
        self._lock = threading.RLock()
        # by id(): a Config's eq and hash read its whole tree; the weak reference tells a
        # reused id from the same object, and its callback removes the entry
        self._entries: dict[int, tuple[weakref.ref[Config], T]] = {}

    def get(self, config: Config) -> T:
        key = id(config)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is config:
            return entry[1]
        value = self._make(config)  # outside the lock: it may be slow, and may raise
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is config:
                return entry[1]  # another thread was first: one value per configuration
            ref = weakref.ref(config, lambda gone: self._drop(key, gone))
            self._entries[key] = (ref, value)
        return value

    def values(self) -> list[T]:
        """What is derived from the configurations alive now (e.g. to close it at shutdown)."""
        with self._lock:
            return [value for _, value in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: int, gone: weakref.ref[Config]) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] is not gone:
                return
            del self._entries[key]
        if self._on_drop is not None:
            self._on_drop(entry[1])
