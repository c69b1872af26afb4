"""Latency histograms: percentiles read back within 1% of a value really observed."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from parallel_run.latency import GROWTH, LatencyHistogram, bucket_of, bucket_value
from parallel_run.store import percentile

durations = st.floats(min_value=0.001, max_value=120_000, allow_nan=False)


@given(st.lists(durations, min_size=1, max_size=300), st.sampled_from([1, 50, 90, 99, 100]))
def test_a_percentile_is_within_one_percent_of_the_exact_one(values: list[float], q: int) -> None:
    histogram = LatencyHistogram()
    histogram.extend(values)
    exact = percentile(values, q)
    approx = histogram.percentile(q)
    assert exact is not None
    assert approx is not None
    assert abs(approx - exact) <= exact * (math.sqrt(GROWTH) - 1) + 1e-9


@given(durations)
def test_each_value_lies_in_its_bucket(ms: float) -> None:
    index = bucket_of(ms)
    assert GROWTH**index <= ms * (1 + 1e-12)
    assert ms < GROWTH ** (index + 1) * (1 + 1e-12)
    assert abs(bucket_value(index) - ms) <= ms * (GROWTH - 1)


@given(st.lists(durations, max_size=50), st.lists(durations, max_size=50))
def test_merging_equals_adding_everything_to_one(left: list[float], right: list[float]) -> None:
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    a.extend(left)
    b.extend(right)
    both.extend(left + right)
    a.merge(b)
    assert a == both
    assert a.count == len(left) + len(right)


def test_json_round_trip_and_the_zero_bucket() -> None:
    histogram = LatencyHistogram()
    histogram.extend([0.0, -1.0, 3.5, 3.5, 250.0])
    again = LatencyHistogram.from_json(histogram.to_json())
    assert again == histogram
    assert again.count == 5
    assert again.percentile(1) == 0.0  # a clock that did not move stays zero, not 1 ms
    assert again.percentile(100) == bucket_value(bucket_of(250.0))


def test_an_empty_histogram_has_no_percentile() -> None:
    assert LatencyHistogram().percentile(50) is None
    assert LatencyHistogram.from_json(None).count == 0
