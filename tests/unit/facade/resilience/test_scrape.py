"""Breaker states read back from /metrics text, as `strangler status` will."""

from __future__ import annotations

from facade.resilience.scrape import breaker_states


def test_states_are_read_by_service() -> None:
    text = """\
# HELP strangler_breaker_state Circuit breaker state per service: 0 closed, 1 half-open, 2 open.
# TYPE strangler_breaker_state gauge
strangler_breaker_state{service="catalog"} 2.0
strangler_breaker_state{service="orders"} 0.0
strangler_breaker_state{service="pay\\"ments"} 1
strangler_breaker_state_other{service="x"} 2.0
strangler_requests_total{capability="c",mode="canary",served_by="legacy",status="200"} 5.0
"""
    assert breaker_states(text) == {
        "catalog": "open",
        "orders": "closed",
        'pay"ments': "half_open",
    }


def test_odd_values_read_as_unknown_and_junk_is_skipped() -> None:
    text = (
        'strangler_breaker_state{service="a"} 7\n'
        'strangler_breaker_state{service="b"} 0.5\n'
        'strangler_breaker_state{service="c"} NaNx\n'
        "strangler_breaker_state 2\n"
        "not a metric line\n"
    )
    assert breaker_states(text) == {"a": "unknown", "b": "unknown"}


def test_no_breakers_no_states() -> None:
    assert breaker_states("") == {}


def test_workers_that_agree_read_as_one_state_and_disagreement_is_spelled_out() -> None:
    text = (
        'strangler_breaker_state{pid="101",service="catalog"} 2.0\n'
        'strangler_breaker_state{pid="102",service="catalog"} 0.0\n'
        'strangler_breaker_state{pid="103",service="catalog"} 0.0\n'
        'strangler_breaker_state{pid="101",service="orders"} 0.0\n'
        'strangler_breaker_state{pid="102",service="orders"} 0.0\n'
    )
    assert breaker_states(text) == {
        "catalog": "open in 1 of 3 workers, closed in 2",
        "orders": "closed",
    }
