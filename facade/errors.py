"""Errors raised by the facade (the first four belong to the routes.yaml model:
facade/config/errors.py; they are re-exported here).

FacadeError
 ├── ConfigError (ValueError)        routes.yaml is invalid: every problem, with file and line
 ├── RequestRejected                 the client's request is unsafe or malformed: answered 4xx
 │    ├── PathRejected               ambiguous or malicious request-target (400)
 │    ├── BodyTooLarge               body over the route's limit (413)
 │    ├── BodyTimeout                body not sent within its idle timeout or deadline (408)
 │    └── SpoolUnavailable           no descriptor, disk or spool budget left for the body (503)
 └── UpstreamError                   an upstream could not answer: answered 502/503/504 problem+json
      ├── UpstreamUnavailable        refused, reset, DNS, protocol error (502)
      ├── UpstreamRefused            the facade did not call it: circuit open, bulkhead full (503)
      └── UpstreamTimeout            no response within the timeout (504)
"""

from __future__ import annotations

from facade.config.errors import (
    QUOTE_LIMIT,
    ConfigError,
    FacadeError,
    PathRejected,
    Problem,
    RequestRejected,
    cut,
    quoted,
)

__all__ = [
    "QUOTE_LIMIT",
    "RETRY_SHORTLY",
    "BodyTimeout",
    "BodyTooLarge",
    "ConfigError",
    "FacadeError",
    "PathRejected",
    "Problem",
    "RequestRejected",
    "SpoolUnavailable",
    "UpstreamError",
    "UpstreamRefused",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "cut",
    "quoted",
]

# seconds, the Retry-After of a refusal for load that passes shortly: the connection cap, a full
# bulkhead, the body spool
RETRY_SHORTLY = 1


class BodyTooLarge(RequestRejected):
    status = 413
    title = "Content Too Large"


class BodyTimeout(RequestRejected):
    """The client stopped sending its body, or took too long: no upstream was held meanwhile."""

    status = 408
    title = "Request Timeout"


class SpoolUnavailable(RequestRejected):
    """The body could not be set aside: no descriptor (EMFILE), no disk (ENOSPC), or the
    process's spool budget (``limits.body_spool_max``) is in use. The facade's state, not the
    request's fault: 503 with ``Retry-After``."""

    status = 503
    title = "Service Unavailable"
    retry_after = RETRY_SHORTLY


class UpstreamError(FacadeError):
    """An upstream failed; ``upstream`` names it as routes.yaml does (``legacy`` or a service)."""

    status = 502
    title = "Bad Gateway"

    def __init__(self, upstream: str, detail: str) -> None:
        self.upstream = upstream
        self.detail = detail
        super().__init__(f"{upstream}: {detail}")


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamRefused(UpstreamError):
    """The facade held the call back to protect the service (open circuit, full bulkhead).

    ``retry_after``: seconds after which a new try may succeed (the ``Retry-After`` header).
    """

    status = 503
    title = "Service Unavailable"

    def __init__(self, upstream: str, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(upstream, detail)
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamError):
    status = 504
    title = "Gateway Timeout"
