"""The circuit breaker's state machine, driven by a fake clock."""

from __future__ import annotations

from facade.config import CircuitBreaker as Settings
from facade.resilience.breaker import CircuitBreaker, Permit, State
from tests.unit.facade.resilience.clock import FakeClock


def breaker(
    clock: FakeClock, *, rate: float = 0.5, min_calls: int = 4, open_for: float = 5.0
) -> tuple[CircuitBreaker, list[tuple[State, State]]]:
    moves: list[tuple[State, State]] = []
    b = CircuitBreaker(
        Settings(failure_rate=rate, min_calls=min_calls, open_for=open_for),
        clock=clock,
        on_transition=lambda a, z: moves.append((a, z)),
    )
    return b, moves


def call(b: CircuitBreaker, *, ok: bool) -> None:
    permit = b.allow()
    assert permit is not None
    b.record(permit, ok=ok)


def test_a_new_breaker_is_closed_and_lets_calls_through() -> None:
    b, moves = breaker(FakeClock())
    assert b.state == "closed"
    assert b.allow() == Permit(probe=False)
    assert moves == []


def test_it_opens_when_the_failure_rate_reaches_the_limit_with_enough_calls() -> None:
    b, moves = breaker(FakeClock(), rate=0.5, min_calls=4)
    call(b, ok=True)
    call(b, ok=False)
    call(b, ok=True)
    assert b.state == "closed"  # 1 of 3: too few calls, and under the rate anyway
    call(b, ok=False)  # 2 of 4 = 50%
    assert b.state == "open"
    assert b.allow() is None
    assert moves == [("closed", "open")]


def test_failures_below_min_calls_never_open_it() -> None:
    b, _ = breaker(FakeClock(), min_calls=5)
    for _ in range(4):
        call(b, ok=False)
    assert b.state == "closed"
    call(b, ok=False)
    assert b.state == "open"


def test_a_low_failure_rate_keeps_it_closed() -> None:
    b, _ = breaker(FakeClock(), rate=0.5, min_calls=4)
    for _ in range(10):
        call(b, ok=True)
        call(b, ok=True)
        call(b, ok=False)  # one in three
    assert b.state == "closed"


def test_old_failures_leave_the_rolling_window() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, rate=0.5, min_calls=4)
    for _ in range(3):
        call(b, ok=False)
    clock.advance(11)  # past the 10 s window: those failures no longer count
    call(b, ok=False)
    assert b.state == "closed"


def test_after_open_for_one_probe_is_let_through_and_its_success_closes_it() -> None:
    clock = FakeClock()
    b, moves = breaker(clock, min_calls=1, open_for=5)
    call(b, ok=False)
    clock.advance(4.9)
    assert b.allow() is None
    clock.advance(0.2)
    assert b.state == "half_open"
    probe = b.allow()
    assert probe == Permit(probe=True)
    assert b.allow() is None  # one probe at a time
    b.record(probe, ok=True)
    assert b.state == "closed"
    assert b.allow() == Permit()
    assert moves == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_failed_probe_opens_it_again_for_another_open_for() -> None:
    clock = FakeClock()
    b, moves = breaker(clock, min_calls=1, open_for=5)
    call(b, ok=False)
    clock.advance(5)
    probe = b.allow()
    assert probe is not None
    b.record(probe, ok=False)
    assert b.state == "open"
    clock.advance(4)
    assert b.allow() is None
    clock.advance(1)
    assert b.allow() == Permit(probe=True)
    assert moves[-2:] == [("half_open", "open"), ("open", "half_open")]


def test_after_closing_the_window_starts_afresh() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, rate=0.5, min_calls=2, open_for=1)
    call(b, ok=False)
    call(b, ok=False)
    clock.advance(1)
    probe = b.allow()
    assert probe is not None
    b.record(probe, ok=True)
    call(b, ok=False)  # 1 call, 1 failure: under min_calls after the reset
    assert b.state == "closed"


def test_late_outcomes_of_calls_let_through_before_it_opened_are_ignored() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, min_calls=1, open_for=5)
    early = b.allow()
    assert early is not None
    call(b, ok=False)
    assert b.state == "open"
    b.record(early, ok=True)  # a slow call that started while closed
    assert b.state == "open"
    clock.advance(5)
    b.record(early, ok=True)  # only the probe moves a half-open breaker
    assert b.state == "half_open"


def test_a_probe_released_without_outcome_frees_the_slot() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, min_calls=1, open_for=5)
    call(b, ok=False)
    clock.advance(5)
    probe = b.allow()
    assert probe is not None
    b.release(probe)  # its request was cancelled
    assert b.allow() == Permit(probe=True)


def test_a_probe_that_never_reports_does_not_wedge_the_breaker() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, min_calls=1, open_for=5)
    call(b, ok=False)
    clock.advance(5)
    assert b.allow() is not None
    clock.advance(4)
    assert b.allow() is None
    clock.advance(1)
    assert b.allow() == Permit(probe=True)


def test_is_open_does_not_take_the_probe() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, min_calls=1, open_for=5)
    call(b, ok=False)
    assert b.is_open()
    clock.advance(5)
    assert not b.is_open()
    assert b.allow() == Permit(probe=True)
