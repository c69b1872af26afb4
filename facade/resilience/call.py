"""One resilient call to a service: breaker, bulkhead, deadline, attempts and retries.

``call_service`` knows nothing of HTTP bodies or translation: it is given an ``attempt`` that
sends the request once and returns the answer (headers read, for a streamed answer; whole, for
a translated one), and it decides, attempt by attempt, whether to try again. It returns an
``Outcome``: an answer to pass on, a ``Failure``, or both (a 5xx answer the caller may relay or
replace by the monolith's). The caller decides about fallback (``policy.may_fall_back``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import aiohttp

from facade.errors import RETRY_SHORTLY
from facade.resilience.backoff import Uniform, backoff_delay
from facade.resilience.breaker import Permit
from facade.resilience.bulkhead import Bulkhead
from facade.resilience.guard import ServiceGuard
from facade.resilience.policy import Failure, is_failure_status, may_retry
from facade.resilience.window import Clock
from facade.upstream import describe_client_error

R = TypeVar("R")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class Outcome(Generic[R]):
    """What a call came to. ``release()`` once the answer has been relayed (or dropped)."""

    answer: R | None  # an answer to pass on; with ``failure`` set, a 5xx answer
    failure: Failure | None
    attempts: int = 0
    _bulkhead: Bulkhead | None = None

    def release(self) -> None:
        """End the call: its bulkhead slot is free again (idempotent)."""
        if self._bulkhead is not None:
            self._bulkhead.release()
            self._bulkhead = None


async def call_service(
    guard: ServiceGuard,
    method: str,
    attempt: Callable[[], Awaitable[R]],
    *,
    status_of: Callable[[R], int],
    discard: Callable[[R], None],
    replayable: bool,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    uniform: Uniform = random.uniform,
) -> Outcome[R]:
    """Call the service through ``guard``; retry idempotent ``method``s if ``replayable``.

    The bulkhead slot is held until ``Outcome.release()`` when an answer is returned (it is
    still being relayed); it is already free when only a failure is.
    """
    permit = guard.breaker.allow()
    if permit is None:
        guard.rejected("circuit_open")
        detail = "circuit open: the service failed too often recently; calls resume after a probe"
        return Outcome(
            None, Failure("circuit_open", detail, retry_after=guard.breaker.next_probe_in())
        )
    if not guard.bulkhead.try_acquire():
        guard.breaker.release(permit)
        guard.rejected("bulkhead_full")
        detail = f"{guard.bulkhead.limit} calls in flight (max_concurrency)"
        # a full bulkhead frees a slot as soon as one call ends: a client may try again soon
        return Outcome(None, Failure("bulkhead_full", detail, retry_after=RETRY_SHORTLY))
    settings = guard.settings
    deadline = clock() + settings.deadline
    guard.budget.record_call()
    outstanding: Permit | None = permit
    attempts = 0
    try:
        while True:
            assert permit is not None
            attempts += 1
            limit = min(settings.attempt_timeout, deadline - clock())
            result = await _attempt(attempt, limit=limit)
            answer: R | None = None
            failure: Failure | None
            if isinstance(result, Failure):
                failure = result
            else:
                answer, failure = result, _status_failure(status_of(result))
            guard.breaker.record(permit, ok=failure is None)
            outstanding = None
            if failure is None:
                return Outcome(answer, None, attempts, guard.bulkhead)
            delay = backoff_delay(attempts - 1, base=settings.backoff, uniform=uniform)
            permit = _next_permit(
                guard,
                method,
                failure,
                retry=attempts - 1,
                replayable=replayable,
                time_left=deadline - clock(),
                delay=delay,
            )
            if permit is None:
                if answer is None:
                    guard.bulkhead.release()
                    return Outcome(None, failure, attempts)
                return Outcome(answer, failure, attempts, guard.bulkhead)
            outstanding = permit
            if answer is not None:
                discard(answer)
            guard.retried()
            await sleep(delay)
    except BaseException:
        # cancelled (the client left) or an error of the attempt's own: no outcome to record
        if outstanding is not None:
            guard.breaker.release(outstanding)
        guard.bulkhead.release()
        raise


def _next_permit(
    guard: ServiceGuard,
    method: str,
    failure: Failure,
    *,
    retry: int,
    replayable: bool,
    time_left: float,
    delay: float,
) -> Permit | None:
    """Leave for one more attempt, or None: not retryable, out of retries, time or budget."""
    if retry >= guard.settings.retries or not replayable or not may_retry(method, failure):
        return None
    if delay >= time_left:
        return None  # the wait alone would spend the deadline
    permit = guard.breaker.allow()
    if permit is None:
        return None  # the failure just recorded may have opened the circuit
    if not guard.budget.try_spend():
        guard.breaker.release(permit)
        guard.budget_exhausted()
        return None
    return permit


def _status_failure(status: int) -> Failure | None:
    """An answer of 500, 502, 503 or 504 is an answer and a failure."""
    if is_failure_status(status):
        return Failure("server_error", f"answered {status}", status)
    return None


async def _attempt(attempt: Callable[[], Awaitable[R]], *, limit: float) -> R | Failure:
    if limit <= 0:
        return Failure("timeout", "the call's deadline passed")
    try:
        async with asyncio.timeout(limit):
            answer = await attempt()
    except aiohttp.ConnectionTimeoutError:
        return Failure("connect_error", "no connection within the connect timeout")
    except TimeoutError:
        return Failure("timeout", f"no answer within {limit:.3g}s")
    except aiohttp.ClientConnectorError as exc:
        return Failure("connect_error", describe_client_error(exc))
    except aiohttp.ClientError as exc:
        return Failure("upstream_error", describe_client_error(exc))
    return answer
