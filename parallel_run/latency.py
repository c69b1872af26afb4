"""Latency histograms: percentiles over counts, so matches can be stored as tallies, not rows.

A comparison that matched is evidence by its count and its latencies; storing a row for each
one is what made shadow mode's store the busiest part of the facade. Matches are therefore
kept per minute as a count plus two histograms, and percentiles are read from the merged
histograms. Buckets grow geometrically by ``GROWTH`` (2%), so a percentile read back is within
1% of a value that was really observed: finer than the run-to-run noise of any latency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

GROWTH = 1.02
_LOG_GROWTH = math.log(GROWTH)
ZERO_BUCKET = -(2**31)  # durations <= 0 (a clock that did not move)


def bucket_of(ms: float) -> int:
    """The bucket holding ``ms``: values in [GROWTH**i, GROWTH**(i+1)) share bucket i."""
    if ms <= 0:
        return ZERO_BUCKET
    return math.floor(math.log(ms) / _LOG_GROWTH)


def bucket_value(index: int) -> float:
    """The value a bucket stands for: its geometric middle (at most 1% from any member)."""
    if index == ZERO_BUCKET:
        return 0.0
    return float(GROWTH ** (index + 0.5))


class LatencyHistogram:
    """Counts of durations (milliseconds) by bucket; mergeable, JSON-serializable."""

    __slots__ = ("counts",)

    def __init__(self, counts: Mapping[int, int] | None = None) -> None:
        self.counts: dict[int, int] = dict(counts or {})

    def add(self, ms: float, count: int = 1) -> None:
        index = bucket_of(ms)
        self.counts[index] = self.counts.get(index, 0) + count

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.add(value)

    def merge(self, other: LatencyHistogram) -> None:
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (``q`` in 0..100), as its bucket's value; None when empty."""
        total = self.count
        if not total:
            return None
        rank = min(max(1, math.ceil(q / 100 * total)), total)
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return bucket_value(index)
        raise AssertionError("unreachable: the ranks add up to the total")

    def to_json(self) -> dict[str, int]:
        """JSON objects have string keys; the store keeps this form."""
        return {str(index): count for index, count in self.counts.items() if count}

    @classmethod
    def from_json(cls, data: Mapping[str, int] | None) -> LatencyHistogram:
        return cls({int(index): int(count) for index, count in (data or {}).items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LatencyHistogram) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"LatencyHistogram(count={self.count})"
