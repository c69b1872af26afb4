"""One service's breaker, retry budget and bulkhead: shared by every request of a process.

``Guards`` keeps one ``ServiceGuard`` per service name and URL, so a reload that leaves a
service's settings alone leaves its breaker's state alone too (an open circuit stays open
through an unrelated edit of routes.yaml). A changed ``circuit_breaker`` gets a fresh breaker;
a changed ``max_concurrency`` or ``retry_budget`` is applied in place, calls in flight still
counted; a changed URL is another service: a fresh guard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from facade.config import Config, Service
from facade.metrics import Metrics
from facade.resilience.breaker import STATE_VALUES, CircuitBreaker, State
from facade.resilience.budget import RetryBudget
from facade.resilience.bulkhead import Bulkhead
from facade.resilience.policy import Reason
from facade.resilience.window import Clock

log = logging.getLogger("strangler.resilience")


@dataclass(frozen=True, slots=True)
class CallSettings:
    """Time limits and retries of one service call, from ``services.<name>`` in routes.yaml."""

    timeout: float  # per attempt: the wait for the answer
    connect_timeout: float
    deadline: float  # the whole call, retries and backoff included
    retries: int
    backoff: float

    @classmethod
    def of(cls, service: Service) -> CallSettings:
        deadline = service.deadline
        if deadline is None:
            deadline = service.timeout * (service.retries + 1)
        return cls(
            timeout=service.timeout,
            connect_timeout=service.connect_timeout,
            deadline=deadline,
            retries=service.retries,
            backoff=service.backoff,
        )

    @property
    def attempt_timeout(self) -> float:
        """The longest one attempt may take to bring an answer: connect, then the answer."""
        return self.connect_timeout + self.timeout


class ServiceGuard:
    def __init__(
        self,
        name: str,
        service: Service,
        *,
        metrics: Metrics | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.url = service.url
        self._metrics = metrics
        self._clock = clock
        self.settings = CallSettings.of(service)
        self.breaker = self._new_breaker(service)
        self.budget = RetryBudget(service.retry_budget, clock=clock)
        self.bulkhead = Bulkhead(service.max_concurrency)
        self.service = service

    def update(self, service: Service) -> None:
        """Apply a reloaded ``services.<name>`` (same URL), keeping what did not change."""
        if service != self.service:
            if service.circuit_breaker != self.service.circuit_breaker:
                self.breaker = self._new_breaker(service)
            self.settings = CallSettings.of(service)
            self.budget.ratio = service.retry_budget
            self.bulkhead.limit = service.max_concurrency
        self.service = service

    def _new_breaker(self, service: Service) -> CircuitBreaker:
        return CircuitBreaker(
            service.circuit_breaker, clock=self._clock, on_transition=self._transition
        )

    # events, counted in /metrics ---------------------------------------------------------

    def _transition(self, before: State, after: State) -> None:
        level = logging.WARNING if after == "open" else logging.INFO
        log.log(level, "circuit breaker of service %r: %s -> %s", self.name, before, after)
        if self._metrics is not None:
            self._metrics.breaker_transitions.labels(self.name, before, after).inc()

    def retried(self) -> None:
        if self._metrics is not None:
            self._metrics.service_retries.labels(self.name).inc()

    def budget_exhausted(self) -> None:
        if self._metrics is not None:
            self._metrics.retry_budget_exhausted.labels(self.name).inc()

    def rejected(self, reason: Reason) -> None:
        if self._metrics is not None:
            self._metrics.service_rejected.labels(self.name, reason).inc()


class Guards:
    """The guards of one facade process, by service name (and URL)."""

    def __init__(self, metrics: Metrics | None = None, *, clock: Clock = time.monotonic) -> None:
        self._metrics = metrics
        self._clock = clock
        self._guards: dict[str, ServiceGuard] = {}
        if metrics is not None:
            metrics.watch_breakers(self.states)

    def get(self, config: Config, name: str) -> ServiceGuard:
        """The guard of service ``name`` as ``config`` describes it (cheap per request)."""
        service = config.routes.services[name]
        guard = self._guards.get(name)
        if guard is not None and guard.service is service:
            return guard  # the usual case: the same loaded configuration as last time
        if guard is None or guard.url != service.url:
            guard = self._guards[name] = ServiceGuard(
                name, service, metrics=self._metrics, clock=self._clock
            )
        else:
            guard.update(service)
        return guard

    def states(self) -> Iterator[tuple[str, int]]:
        for name, guard in sorted(self._guards.items()):
            yield name, STATE_VALUES[guard.breaker.state]
