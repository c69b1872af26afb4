"""The bulkhead refuses the call over its limit, at once."""

from __future__ import annotations

from facade.resilience.bulkhead import Bulkhead


def test_calls_over_the_limit_are_refused_until_one_ends() -> None:
    bulkhead = Bulkhead(2)
    assert bulkhead.try_acquire()
    assert bulkhead.try_acquire()
    assert bulkhead.full
    assert not bulkhead.try_acquire()
    bulkhead.release()
    assert bulkhead.try_acquire()


def test_a_lower_limit_after_a_reload_applies_to_new_calls_only() -> None:
    bulkhead = Bulkhead(3)
    for _ in range(3):
        bulkhead.try_acquire()
    bulkhead.limit = 1
    assert not bulkhead.try_acquire()
    for _ in range(3):
        bulkhead.release()
    assert bulkhead.in_use == 0
    assert bulkhead.try_acquire()
    assert not bulkhead.try_acquire()
