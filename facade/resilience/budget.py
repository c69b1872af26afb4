"""The retry budget: retries may add at most ``ratio`` extra calls over a rolling window.

As Finagle's ``RetryBudget`` does, each call deposits ``ratio`` of a retry and each retry
withdraws one, plus a small reserve (``RESERVE`` retries per window) so that a quiet service can
still be retried at all. When a service fails everything, retries stay a fixed share of the
traffic instead of multiplying it (a retry storm). ``ratio`` 0 turns retries off entirely.
"""

from __future__ import annotations

import time

from facade.resilience.window import Clock, RollingPair

WINDOW = 10.0
RESERVE = 10  # retries per window allowed whatever the traffic (if ratio > 0)


class RetryBudget:
    def __init__(
        self,
        ratio: float,
        *,
        clock: Clock = time.monotonic,
        window: float = WINDOW,
        reserve: int = RESERVE,
    ) -> None:
        self.ratio = ratio
        self._reserve = reserve
        self._counts = RollingPair(window, clock=clock)  # (calls, retries)

    def record_call(self) -> None:
        """A first attempt was made (it deposits ``ratio`` of a retry)."""
        self._counts.add(1, 0)

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when it is exhausted."""
        if self.ratio <= 0:
            return False
        calls, retries = self._counts.totals()
        if retries + 1 > self.ratio * calls + self._reserve:
            return False
        self._counts.add(0, 1)
        return True
