"""The circuit breaker: a pure state machine over a clock (no I/O, no sleeping).

closed ──(failure rate ≥ failure_rate over the last WINDOW seconds, with ≥ min_calls)──▶ open
open ──(open_for elapsed)──▶ half-open: one probe call is let through
half-open ──(probe succeeds)──▶ closed (the window starts afresh)
half-open ──(probe fails)──▶ open again, for another open_for

The window is time-based, as Hystrix's is (10 s, in 1 s buckets): outcomes older than that no
longer count, so a service that failed an hour ago is judged on what it does now, however quiet
the traffic. Only the probe's outcome moves a half-open breaker; late outcomes of calls let
through while it was closed are ignored once it has opened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from facade.config import CircuitBreaker as BreakerSettings
from facade.resilience.window import Clock, RollingPair

State = Literal["closed", "half_open", "open"]
# the gauge's values in /metrics (strangler_breaker_state)
STATE_VALUES: dict[State, int] = {"closed": 0, "half_open": 1, "open": 2}
WINDOW = 10.0
Transition = Callable[[State, State], None]


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to make one call; ``probe`` marks the half-open breaker's single trial call."""

    probe: bool = False


class CircuitBreaker:
    def __init__(
        self,
        settings: BreakerSettings,
        *,
        clock: Clock = time.monotonic,
        on_transition: Transition | None = None,
        window: float = WINDOW,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._on_transition = on_transition
        self._outcomes = RollingPair(window, clock=clock)  # (calls, failures)
        self._state: State = "closed"
        self._opened_at = 0.0
        self._probe_since: float | None = None  # a probe is out since then

    @property
    def state(self) -> State:
        """The state now: an open breaker whose ``open_for`` has passed reads as half-open."""
        if self._state == "open" and self._clock() - self._opened_at >= self.settings.open_for:
            self._move("half_open")
        return self._state

    def next_probe_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it is not open)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self._opened_at + self.settings.open_for - self._clock())

    def allow(self) -> Permit | None:
        """A permit for one call, or None: open, or half-open with its probe already out."""
        state = self.state
        if state == "closed":
            return Permit()
        if state == "open":
            return None
        now = self._clock()
        # a probe that never reported (its task was cancelled, say) must not wedge the breaker
        if self._probe_since is not None and now - self._probe_since < self.settings.open_for:
            return None
        self._probe_since = now
        return Permit(probe=True)

    def is_open(self) -> bool:
        """Open and not yet due for a probe (asks without taking a permit)."""
        return self.state == "open"

    def record(self, permit: Permit, *, ok: bool) -> None:
        """The outcome of a call made with ``permit``."""
        state = self.state
        if permit.probe:
            if state != "half_open":
                return
            self._probe_since = None
            if ok:
                self._outcomes.clear()
                self._move("closed")
            else:
                self._open()
            return
        if state != "closed":
            return  # a late outcome of a call let through before the breaker opened
        self._outcomes.add(1, 0 if ok else 1)
        if not ok:
            calls, failures = self._outcomes.totals()
            if calls >= self.settings.min_calls and failures >= self.settings.failure_rate * calls:
                self._open()

    def release(self, permit: Permit) -> None:
        """The call made with ``permit`` ended with no outcome (cancelled): free the probe."""
        if permit.probe and self._state == "half_open":
            self._probe_since = None

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._outcomes.clear()
        self._move("open")

    def _move(self, to: State) -> None:
        before, self._state = self._state, to
        if before != to and self._on_transition is not None:
            self._on_transition(before, to)
