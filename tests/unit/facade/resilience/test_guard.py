"""Guards outlive reloads that leave a service's settings alone."""

from __future__ import annotations

from facade.metrics import Metrics
from facade.resilience.guard import CallSettings, Guards
from facade.resilience.scrape import breaker_states
from tests.unit.facade.resilience.clock import FakeClock
from tests.unit.facade.resilience.configs import config_of

CATALOG = "  catalog:\n    url: http://127.0.0.1:9001\n"
BREAKER = "    circuit_breaker: {min_calls: 1, open_for: 30s}\n"


def open_breaker(guards: Guards, text: str) -> None:
    guard = guards.get(config_of(text), "catalog")
    permit = guard.breaker.allow()
    assert permit is not None
    guard.breaker.record(permit, ok=False)
    assert guard.breaker.state == "open"


def test_the_same_service_gets_the_same_guard_across_reloads() -> None:
    guards = Guards()
    first = guards.get(config_of(CATALOG + BREAKER), "catalog")
    open_breaker(guards, CATALOG + BREAKER)
    # an unrelated edit (a timeout, another service) keeps the open circuit open
    again = guards.get(
        config_of(CATALOG + BREAKER + "    timeout: 3s\n  orders: {url: 'http://x:1'}\n"),
        "catalog",
    )
    assert again is first
    assert again.breaker.state == "open"
    assert again.settings.timeout == 3.0


def test_new_breaker_settings_start_a_fresh_breaker() -> None:
    guards = Guards()
    open_breaker(guards, CATALOG + BREAKER)
    changed = guards.get(
        config_of(CATALOG + "    circuit_breaker: {min_calls: 5, open_for: 30s}\n"), "catalog"
    )
    assert changed.breaker.state == "closed"
    assert changed.breaker.settings.min_calls == 5


def test_a_new_url_is_another_service() -> None:
    guards = Guards()
    open_breaker(guards, CATALOG + BREAKER)
    moved = guards.get(
        config_of("  catalog:\n    url: http://127.0.0.1:9002\n" + BREAKER), "catalog"
    )
    assert moved.breaker.state == "closed"


def test_bulkhead_and_budget_changes_apply_in_place() -> None:
    guards = Guards()
    guard = guards.get(config_of(CATALOG + "    max_concurrency: 2\n"), "catalog")
    assert guard.bulkhead.try_acquire()
    same = guards.get(
        config_of(CATALOG + "    max_concurrency: 1\n    retry_budget: 0.5\n"), "catalog"
    )
    assert same is guard
    assert same.bulkhead.full  # the call in flight still counts against the new limit
    assert same.budget.ratio == 0.5


def test_the_default_deadline_covers_every_attempt() -> None:
    guards = Guards()
    guard = guards.get(config_of(CATALOG + "    timeout: 2s\n    retries: 2\n"), "catalog")
    assert guard.settings == CallSettings(
        timeout=2.0, connect_timeout=1.0, deadline=6.0, retries=2, backoff=0.05
    )
    explicit = guards.get(config_of(CATALOG + "    deadline: 1500ms\n"), "catalog")
    assert explicit.settings.deadline == 1.5


def test_transitions_and_states_reach_the_metrics() -> None:
    clock = FakeClock()
    metrics = Metrics()
    guards = Guards(metrics, clock=clock)
    open_breaker(guards, CATALOG + BREAKER)
    text = metrics.exposition().decode()
    assert breaker_states(text) == {"catalog": "open"}
    assert (
        'strangler_breaker_transitions_total{from_state="closed",service="catalog",'
        'to_state="open"} 1.0' in text
    )
    clock.advance(30)  # no request needed: the scrape itself shows the half-open state
    assert breaker_states(metrics.exposition().decode()) == {"catalog": "half_open"}
