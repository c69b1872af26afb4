"""The retry budget: retries stay a share of the calls, with a small reserve."""

from __future__ import annotations

from facade.resilience.budget import RetryBudget
from tests.unit.facade.resilience.clock import FakeClock


def spend(budget: RetryBudget, times: int) -> int:
    return sum(budget.try_spend() for _ in range(times))


def test_a_quiet_service_gets_the_reserve() -> None:
    budget = RetryBudget(0.2, clock=FakeClock(), reserve=3)
    budget.record_call()
    assert spend(budget, 10) == 3  # 0.2 x 1 call rounds down to nothing beyond the reserve


def test_retries_are_a_share_of_the_calls() -> None:
    budget = RetryBudget(0.2, clock=FakeClock(), reserve=0)
    for _ in range(100):
        budget.record_call()
    assert spend(budget, 50) == 20


def test_zero_turns_retries_off() -> None:
    budget = RetryBudget(0.0, clock=FakeClock())
    for _ in range(100):
        budget.record_call()
    assert not budget.try_spend()


def test_the_budget_refills_as_the_window_moves_on() -> None:
    clock = FakeClock()
    budget = RetryBudget(0.1, clock=clock, reserve=2)
    assert spend(budget, 5) == 2
    clock.advance(10.5)
    assert spend(budget, 5) == 2  # the old retries have left the window


def test_a_ratio_changed_by_a_reload_applies_at_once() -> None:
    budget = RetryBudget(0.5, clock=FakeClock(), reserve=0)
    for _ in range(10):
        budget.record_call()
    budget.ratio = 0.1
    assert spend(budget, 10) == 1
