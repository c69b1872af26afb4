"""Exponential backoff with full jitter."""

from __future__ import annotations

import random

import pytest

from facade.resilience.backoff import MAX_BACKOFF, backoff_delay


def top(low: float, high: float) -> float:
    return high  # the ceiling, to see the schedule


@pytest.mark.parametrize(
    ("retry", "ceiling"), [(0, 0.05), (1, 0.1), (2, 0.2), (3, 0.4), (10, MAX_BACKOFF)]
)
def test_the_ceiling_doubles_per_retry_up_to_the_cap(retry: int, ceiling: float) -> None:
    assert backoff_delay(retry, base=0.05, uniform=top) == pytest.approx(ceiling)


def test_the_wait_is_drawn_from_zero_to_the_ceiling() -> None:
    rng = random.Random(7)
    waits = [backoff_delay(3, base=0.1, uniform=rng.uniform) for _ in range(2000)]
    assert min(waits) >= 0
    assert max(waits) <= 0.8
    assert min(waits) < 0.05  # full jitter: waits near zero happen
    assert 0.35 < sum(waits) / len(waits) < 0.45  # uniform: the mean is half the ceiling


def test_huge_retry_numbers_do_not_overflow() -> None:
    assert backoff_delay(10_000, base=1.0, uniform=top) == MAX_BACKOFF
