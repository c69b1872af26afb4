"""Confidence intervals for rates: mismatch rates in reports, noise rates in `noise.py`.

Wilson's score interval stays inside [0, 1] and behaves at 0 and n successes, where the
textbook normal interval collapses to a point; Newcombe's hybrid score interval (his
"method 10", 1998) builds the interval of a difference of two rates from two Wilson intervals
and inherits those properties.
"""

from __future__ import annotations

import math


def _check(successes: int, n: int) -> None:
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")


def wilson_interval(successes: int, n: int, *, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of the rate `successes / n`; (0, 1) when nothing was observed."""
    _check(successes, n)
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # exact ends at 0 and n successes (the formula gives them up to rounding)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def difference_interval(
    successes_a: int, n_a: int, successes_b: int, n_b: int, *, z: float = 1.96
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of `rate_a - rate_b`, each rate from its own sample."""
    low_a, high_a = wilson_interval(successes_a, n_a, z=z)
    low_b, high_b = wilson_interval(successes_b, n_b, z=z)
    p_a = successes_a / n_a if n_a else 0.5
    p_b = successes_b / n_b if n_b else 0.5
    d = p_a - p_b
    low = d - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = d + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return max(-1.0, low), min(1.0, high)
