"""Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
Jitter"): the n-th retry waits a uniform random time in [0, min(cap, base x 2^n)].

Full jitter spreads the retries of many clients that failed together, so they do not come back
in synchronized waves; its expected wait is half the plain exponential one.
"""

from __future__ import annotations

import random
from collections.abc import Callable

MAX_BACKOFF = 2.0  # seconds: no single wait beyond this, however many retries
Uniform = Callable[[float, float], float]


def backoff_delay(
    retry: int, *, base: float, cap: float = MAX_BACKOFF, uniform: Uniform = random.uniform
) -> float:
    """The wait before retry number ``retry`` (0 for the first retry)."""
    ceiling = min(cap, base * 2 ** min(retry, 30))
    return uniform(0.0, ceiling)
