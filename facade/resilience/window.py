"""Two counters over a rolling time window, kept in per-slice buckets: O(buckets) memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class RollingPair:
    """Counts ``(a, b)`` added during the last ``span`` seconds, to within one bucket's width."""

    def __init__(self, span: float, *, buckets: int = 10, clock: Clock) -> None:
        self._width = span / buckets
        self._buckets = buckets
        self._clock = clock
        self._slices: deque[list[int]] = deque()  # [slice index, a, b], oldest first

    def add(self, a: int = 0, b: int = 0) -> None:
        index = int(self._clock() // self._width)
        self._prune(index)
        if self._slices and self._slices[-1][0] == index:
            self._slices[-1][1] += a
            self._slices[-1][2] += b
        else:
            self._slices.append([index, a, b])

    def totals(self) -> tuple[int, int]:
        self._prune(int(self._clock() // self._width))
        return sum(s[1] for s in self._slices), sum(s[2] for s in self._slices)

    def clear(self) -> None:
        self._slices.clear()

    def _prune(self, index: int) -> None:
        while self._slices and self._slices[0][0] <= index - self._buckets:
            self._slices.popleft()
