"""One resilient call: attempts, retries, deadline, breaker and bulkhead, with fake I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
import pytest

from facade.metrics import Metrics
from facade.resilience.call import Outcome, call_service
from facade.resilience.guard import Guards, ServiceGuard
from facade.resilience.policy import Failure
from tests.unit.facade.resilience.clock import FakeClock
from tests.unit.facade.resilience.configs import config_of


@dataclass
class Answer:
    status: int
    closed: bool = False


@dataclass
class Script:
    """Plays one step per attempt: a status to answer, or an exception to raise."""

    steps: Sequence[int | BaseException]
    calls: int = 0
    answers: list[Answer] = field(default_factory=list)

    async def __call__(self) -> Answer:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        if isinstance(step, BaseException):
            raise step
        answer = Answer(step)
        self.answers.append(answer)
        return answer


def guard_for(settings: str, clock: FakeClock, metrics: Metrics | None = None) -> ServiceGuard:
    text = "  svc:\n    url: http://127.0.0.1:9\n" + "".join(
        f"    {line}\n" for line in settings.split(";") if line
    )
    return Guards(metrics, clock=clock).get(config_of(text), "svc")


async def run(
    guard: ServiceGuard,
    script: Callable[[], Awaitable[Answer]],
    *,
    method: str = "GET",
    replayable: bool = True,
    clock: FakeClock,
    sleeps: list[float] | None = None,
) -> Outcome[Answer]:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        clock.advance(seconds)

    def close(answer: Answer) -> None:
        answer.closed = True

    return await call_service(
        guard,
        method,
        script,
        status_of=lambda a: a.status,
        discard=close,
        replayable=replayable,
        clock=clock,
        sleep=sleep,
        uniform=lambda low, high: high,
    )


def counter(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_healthy_call_answers_once_and_holds_its_slot_until_released() -> None:
    clock = FakeClock()
    guard = guard_for("retries: 2", clock)
    outcome = await run(guard, Script([200]), clock=clock)
    assert outcome.answer == Answer(200)
    assert outcome.failure is None
    assert outcome.attempts == 1
    assert guard.bulkhead.in_use == 1  # still relaying
    outcome.release()
    outcome.release()
    assert guard.bulkhead.in_use == 0


async def test_transient_503s_of_a_get_are_retried_with_growing_backoff() -> None:
    clock, metrics, sleeps = FakeClock(), Metrics(), []
    guard = guard_for("retries: 2;backoff: 100ms", clock, metrics)
    script = Script([503, 502, 200])
    outcome = await run(guard, script, clock=clock, sleeps=sleeps)
    assert outcome.answer is not None
    assert outcome.answer.status == 200
    assert outcome.attempts == 3
    assert sleeps == [pytest.approx(0.1), pytest.approx(0.2)]
    assert [a.closed for a in script.answers] == [True, True, False]  # failed ones discarded
    assert counter(metrics, "strangler_service_retries_total", service="svc") == 2


async def test_a_post_is_never_retried() -> None:
    clock = FakeClock()
    guard = guard_for("retries: 3", clock)
    script = Script([503, 200])
    outcome = await run(guard, script, method="POST", clock=clock)
    assert script.calls == 1
    assert outcome.answer == Answer(503)
    assert outcome.failure is not None
    assert outcome.failure.reason == "server_error"
    assert outcome.failure.status == 503


async def test_a_body_that_cannot_be_sent_again_is_not_retried() -> None:
    clock = FakeClock()
    guard = guard_for("retries: 3", clock)
    script = Script([aiohttp.ConnectionTimeoutError(), 200])
    outcome = await run(guard, script, replayable=False, clock=clock)
    assert script.calls == 1
    assert outcome.answer is None
    assert outcome.failure is not None
    assert outcome.failure.reason == "connect_error"
    assert not outcome.failure.delivered
    assert guard.bulkhead.in_use == 0  # no answer: the slot is already free


async def test_a_500_is_a_failure_but_not_retried() -> None:
    clock = FakeClock()
    guard = guard_for("retries: 3", clock)
    script = Script([500, 200])
    outcome = await run(guard, script, clock=clock)
    assert script.calls == 1
    assert outcome.failure is not None
    assert outcome.failure.status == 500


async def test_retries_stop_at_the_configured_number() -> None:
    clock = FakeClock()
    guard = guard_for("retries: 2;circuit_breaker: {min_calls: 100}", clock)
    script = Script([aiohttp.ServerDisconnectedError()])
    outcome = await run(guard, script, clock=clock)
    assert script.calls == 3
    assert outcome.failure is not None
    assert outcome.failure.reason == "upstream_error"


async def test_an_attempt_over_its_timeout_is_a_timeout_failure() -> None:
    clock = FakeClock()
    guard = guard_for("timeout: 20ms;connect_timeout: 10ms", clock)

    async def hang() -> Answer:
        await asyncio.sleep(5)
        return Answer(200)

    outcome = await run(guard, hang, clock=clock)
    assert outcome.failure is not None
    assert outcome.failure.reason == "timeout"
    assert outcome.failure.delivered


async def test_no_retry_when_the_backoff_would_outlast_the_deadline() -> None:
    clock = FakeClock()
    guard = guard_for("retries: 5;backoff: 1s;deadline: 1500ms", clock)
    script = Script([503])
    outcome = await run(guard, script, clock=clock)
    # waits of up to 1 s then 2 s: the second would pass the deadline
    assert script.calls == 2
    assert outcome.answer == Answer(503)


async def test_an_open_circuit_refuses_without_calling() -> None:
    clock, metrics = FakeClock(), Metrics()
    guard = guard_for("circuit_breaker: {min_calls: 2, open_for: 5s}", clock, metrics)
    for _ in range(2):
        (await run(guard, Script([503]), clock=clock)).release()
    script = Script([200])
    outcome = await run(guard, script, clock=clock)
    assert script.calls == 0
    assert outcome.failure is not None
    assert outcome.failure.reason == "circuit_open"
    assert outcome.failure.retry_after == 5  # the client's Retry-After: when the probe may go
    assert (
        counter(metrics, "strangler_service_rejected_total", service="svc", reason="circuit_open")
        == 1
    )
    clock.advance(2)
    assert (await run(guard, script, clock=clock)).failure == Failure(
        "circuit_open", outcome.failure.detail, retry_after=3
    )
    clock.advance(3)
    probe = await run(guard, script, clock=clock)  # open_for later: the probe goes through
    assert probe.answer == Answer(200)
    assert guard.breaker.state == "closed"


async def test_the_circuit_opening_mid_call_ends_the_retries() -> None:
    clock = FakeClock()
    guard = guard_for("retries: 5;circuit_breaker: {min_calls: 2}", clock)
    script = Script([503])
    await run(guard, script, clock=clock)
    assert script.calls == 2  # the second failure opened it
    assert guard.breaker.state == "open"


async def test_a_full_bulkhead_refuses_at_once() -> None:
    clock, metrics = FakeClock(), Metrics()
    guard = guard_for("max_concurrency: 1", clock, metrics)
    first = await run(guard, Script([200]), clock=clock)
    script = Script([200])
    second = await run(guard, script, clock=clock)
    assert script.calls == 0
    assert second.failure is not None
    assert second.failure.reason == "bulkhead_full"
    assert second.failure.retry_after == 1
    assert (
        counter(metrics, "strangler_service_rejected_total", service="svc", reason="bulkhead_full")
        == 1
    )
    first.release()
    assert (await run(guard, script, clock=clock)).answer == Answer(200)


async def test_an_exhausted_budget_stops_retrying_and_is_counted() -> None:
    clock, metrics = FakeClock(), Metrics()
    guard = guard_for(
        "retries: 1;retry_budget: 0.01;circuit_breaker: {min_calls: 1000}", clock, metrics
    )
    calls = 0
    for _ in range(30):
        script = Script([503])
        (await run(guard, script, clock=clock)).release()
        calls += script.calls
    # the 10-retry reserve plus 1% of 30 calls: 10 retries, then none
    assert calls == 30 + 10
    assert counter(metrics, "strangler_retry_budget_exhausted_total", service="svc") == 20


async def test_a_cancelled_call_frees_its_slot_and_its_probe() -> None:
    clock = FakeClock()
    guard = guard_for("circuit_breaker: {min_calls: 1, open_for: 1s}", clock)
    (await run(guard, Script([503]), clock=clock)).release()
    clock.advance(1)
    started = asyncio.Event()

    async def hang() -> Answer:
        started.set()
        await asyncio.sleep(5)
        return Answer(200)

    task = asyncio.ensure_future(run(guard, hang, clock=clock))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert guard.bulkhead.in_use == 0
    assert guard.breaker.allow() is not None  # the probe slot is free for the next request
