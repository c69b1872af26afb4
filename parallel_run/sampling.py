"""Which comparisons keep their evidence (bodies, headers, differing values) and which are
only counted: the first ``examples`` of each mismatch signature per time window are kept in
full, every later one is a count in a per-minute tally, as matches already are.

Why: one wrong candidate answers every request with the same bug. Each of those comparisons
is one more count for the report and the gate, but only the first few teach a person anything;
keeping both bodies of every one let a candidate answering 5 MB grow the store by hundreds of
megabytes a minute. Counts stay exact (the tallies add up to every comparison made); examples
are bounded by signatures x windows, and the store caps them per capability besides
(``ResultStore``'s ``max_bytes``).

Pure and in memory: the facade's comparison thread asks ``keep()`` once per comparison that did
not match. Each process samples on its own, so N processes keep at most N times ``examples``
per window; the store's byte cap is the bound that holds across them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_EXAMPLES = 5
DEFAULT_WINDOW_SECONDS = 3600.0
# windows are forgotten once over; this many signatures alive at once at most, so a candidate
# whose every answer has new JSON keys cannot grow the sampler's memory without end (past it,
# a new signature is counted, not kept: the ones already seen keep their examples)
MAX_SIGNATURES = 10_000

SampleKey = tuple[str, str | None, str, str]
"""(experiment, replay run id or None, outcome, signature)."""


@dataclass(frozen=True, slots=True)
class SamplePolicy:
    """``examples`` kept per signature in each ``window`` seconds (0 keeps none)."""

    examples: int = DEFAULT_EXAMPLES
    window: float = DEFAULT_WINDOW_SECONDS

    def __post_init__(self) -> None:
        if self.examples < 0:
            raise ValueError(f"examples must be >= 0, not {self.examples}")
        if not (math.isfinite(self.window) and self.window > 0):
            raise ValueError(f"window must be a finite number of seconds > 0, not {self.window}")


class ExampleSampler:
    """Counts examples per signature and window; ``keep()`` says whether this one is kept.

    ``now`` is passed in (seconds on any clock that only moves forward), so tests never sleep.
    Windows are fixed slices of that clock (``floor(now / window)``), not sliding: the first
    ``examples`` of each slice are kept, so a bug that lasts a day leaves examples from every
    hour of it.
    """

    __slots__ = ("_kept", "_policy", "_slice")

    def __init__(self, policy: SamplePolicy) -> None:
        self._policy = policy
        self._slice: int | None = None
        self._kept: dict[SampleKey, int] = {}

    @property
    def policy(self) -> SamplePolicy:
        return self._policy

    def keep(self, key: SampleKey, *, now: float) -> bool:
        """True for the first ``examples`` calls with ``key`` in the window ``now`` falls in."""
        current = math.floor(now / self._policy.window)
        if current != self._slice:
            self._slice = current
            self._kept.clear()  # a new window: every signature may show examples again
        kept = self._kept.get(key)
        if kept is None:
            if len(self._kept) >= MAX_SIGNATURES:
                return False
            kept = 0
        if kept >= self._policy.examples:
            return False
        self._kept[key] = kept + 1
        return True


def difference_shape(differences: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """The (template path, kind) pairs of a comparison's differences, sorted and unique.

    What a tally keeps of each counted comparison's differences: exactly what re-judging a
    mismatch by noise learned later needs (``NoiseTracker.classify`` reads the template path and
    the kind, never the values), and small whatever the bodies were.
    """
    return tuple(
        sorted(
            {
                (str(d.get("template_path") or d.get("path") or ""), str(d.get("kind") or "value"))
                for d in differences
            }
        )
    )
