"""A log line at most once per interval, with how many were held back since the last one.

A resource running out (descriptors, disk) fails every request or accept at once: one line per
failure would bury the log (280,000 lines in 5 s for failed accepts) and cost more than the
work itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

LOG_INTERVAL = 10.0


class LogThrottle:
    """``due()`` is true at most once per ``interval``; ``held`` counts the calls in between."""

    def __init__(
        self, *, interval: float = LOG_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._since = 0
        self._next_line = float("-inf")

    def due(self) -> int | None:
        """Count one event; when a line is due, return how many events it stands for."""
        self._since += 1
        now = self._clock()
        if now < self._next_line:
            return None
        count, self._since = self._since, 0
        self._next_line = now + self.interval
        return count
