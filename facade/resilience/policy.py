"""What may be retried, what may fall back to the monolith, and what counts as a failure.

- Retried: idempotent methods only (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE),
  never POST or PATCH; after a connect failure, a timeout, a broken connection, or a 502, 503
  or 504 (the statuses that say "not now", RFC 9110 §15.6). A 500 is not retried: it is the
  service's own error, usually the same on a second try.
- A failure, for the breaker and for fallback: no answer (connect failure, timeout, broken
  connection), or an answer of 500, 502, 503 or 504. A canary exists to catch a new service's
  500s; the monolith, which served the capability until now, is the better answer for them.
- Fallback to the monolith: safe methods (GET, HEAD, OPTIONS, TRACE) always. Unsafe ones only
  when the service certainly never received the request (open circuit, full bulkhead, connect
  failure, a request the translator could not put in the service's terms), and only where
  the capability lets writes move to the monolith at all (before
  cutover, or ``fallback_unsafe: legacy``): after a timeout, a broken connection or a 5xx the
  service may have acted on a POST, PUT or DELETE, and the monolith acting on it again would
  apply it twice, in two databases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facade.errors import UpstreamError, UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from parallel_run.methods import IDEMPOTENT_METHODS, SAFE_METHODS

RETRY_STATUSES = frozenset({502, 503, 504})
FAILURE_STATUSES = frozenset({500, 502, 503, 504})

Reason = Literal[
    "circuit_open",  # the breaker refused the call
    "bulkhead_full",  # max_concurrency calls already in flight
    "connect_error",  # no connection (refused, unreachable, connect timeout)
    "timeout",  # no answer within the timeout or the deadline
    "upstream_error",  # connection broken, protocol error
    "server_error",  # an answer of 500, 502, 503 or 504
    "untranslatable_request",  # the translator has no service request for it: never sent
]
NOT_DELIVERED: frozenset[Reason] = frozenset(
    {"circuit_open", "bulkhead_full", "connect_error", "untranslatable_request"}
)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a call to a service did not give an answer to pass on."""

    reason: Reason
    detail: str
    status: int | None = None  # server_error: the service's status
    retry_after: float | None = None  # circuit_open, bulkhead_full: when to try again

    @property
    def delivered(self) -> bool:
        """The service may have received (and acted on) the request."""
        return self.reason not in NOT_DELIVERED

    def error(self, service: str) -> UpstreamError:
        """What the client is answered when there is no fallback (and no answer to relay)."""
        if self.reason in ("circuit_open", "bulkhead_full"):
            return UpstreamRefused(service, self.detail, retry_after=self.retry_after)
        if self.reason == "timeout":
            return UpstreamTimeout(service, self.detail)
        return UpstreamUnavailable(service, self.detail)


def is_failure_status(status: int) -> bool:
    return status in FAILURE_STATUSES


def may_retry(method: str, failure: Failure) -> bool:
    """May a call that failed this way be tried again (budget and deadline aside)?"""
    if method not in IDEMPOTENT_METHODS:
        return False
    if failure.reason == "server_error":
        return failure.status in RETRY_STATUSES
    return failure.reason in ("connect_error", "timeout", "upstream_error")


def stricter_method(first: str, second: str) -> str:
    """Of two methods (the client's and a translated one), the one allowing fewer retries."""

    def rank(method: str) -> int:
        return 0 if method in SAFE_METHODS else 1 if method in IDEMPOTENT_METHODS else 2

    return first if rank(first) >= rank(second) else second


def may_fall_back(method: str, failure: Failure, *, unsafe: bool) -> bool:
    """May the monolith serve a request whose service call failed this way?

    ``unsafe``: the capability lets unsafe methods move to the monolith at all
    (``Capability.unsafe_falls_back``). The body is always there to send again: it was read
    whole before the service was called.
    """
    if method in SAFE_METHODS:
        return True
    return unsafe and not failure.delivered
