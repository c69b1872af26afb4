"""Which failures may be retried, which may fall back, and what the client is answered."""

from __future__ import annotations

import pytest

from facade.errors import UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from facade.resilience.policy import (
    Failure,
    Reason,
    may_fall_back,
    may_retry,
    stricter_method,
)


def failure(reason: Reason, status: int | None = None) -> Failure:
    return Failure(reason, "detail", status)


@pytest.mark.parametrize(
    ("method", "fail", "expected"),
    [
        ("GET", failure("timeout"), True),
        ("HEAD", failure("connect_error"), True),
        ("PUT", failure("upstream_error"), True),
        ("DELETE", failure("server_error", 503), True),
        ("GET", failure("server_error", 502), True),
        ("GET", failure("server_error", 504), True),
        ("GET", failure("server_error", 500), False),  # the service's own error: not transient
        ("POST", failure("connect_error"), False),  # never POST
        ("PATCH", failure("timeout"), False),  # nor PATCH
        ("GET", failure("circuit_open"), False),  # refused by the facade: nothing to retry
        ("GET", failure("bulkhead_full"), False),
    ],
)
def test_what_may_be_retried(method: str, fail: Failure, expected: bool) -> None:
    assert may_retry(method, fail) is expected


@pytest.mark.parametrize(
    ("method", "fail", "expected"),
    [
        ("GET", failure("timeout"), True),
        ("GET", failure("server_error", 500), True),
        ("HEAD", failure("upstream_error"), True),
        ("POST", failure("circuit_open"), True),  # the service never saw it
        ("POST", failure("bulkhead_full"), True),
        ("POST", failure("connect_error"), True),
        ("POST", failure("timeout"), False),  # it may have acted: never twice
        ("POST", failure("server_error", 503), False),
        ("PUT", failure("timeout"), False),  # idempotent, but the monolith is another database
        ("DELETE", failure("upstream_error"), False),
    ],
)
def test_what_may_fall_back_to_the_monolith(method: str, fail: Failure, expected: bool) -> None:
    assert may_fall_back(method, fail, unsafe=True) is expected


@pytest.mark.parametrize("reason", ["circuit_open", "bulkhead_full", "connect_error"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_stay_off_the_monolith_unless_the_capability_allows_it(
    method: str, reason: Reason
) -> None:
    assert not may_fall_back(method, failure(reason), unsafe=False)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
def test_safe_methods_fall_back_whatever_the_unsafe_setting(method: str) -> None:
    assert may_fall_back(method, failure("circuit_open"), unsafe=False)


@pytest.mark.parametrize(
    ("fail", "error", "status"),
    [
        (failure("circuit_open"), UpstreamRefused, 503),
        (failure("bulkhead_full"), UpstreamRefused, 503),
        (failure("timeout"), UpstreamTimeout, 504),
        (failure("connect_error"), UpstreamUnavailable, 502),
        (failure("upstream_error"), UpstreamUnavailable, 502),
    ],
)
def test_without_fallback_each_failure_has_its_status(
    fail: Failure, error: type[Exception], status: int
) -> None:
    raised = fail.error("catalog")
    assert isinstance(raised, error)
    assert raised.status == status
    assert raised.upstream == "catalog"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("GET", "GET", "GET"),
        ("GET", "POST", "POST"),
        ("PUT", "GET", "PUT"),
        ("POST", "PUT", "POST"),
    ],
)
def test_the_stricter_method_allows_fewer_retries(a: str, b: str, expected: str) -> None:
    assert stricter_method(a, b) == expected
