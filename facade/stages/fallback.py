"""After a failed service call: the monolith serves, or the client gets the failure's error.

The monolith may serve when the capability says ``fallback: legacy`` and the policy allows it
for this method and this failure (``facade.resilience.policy.may_fall_back``: safe methods
always; unsafe ones only when the service surely never got them, and only where
``fallback_unsafe`` lets writes move). It is always possible here: the body was read whole
before the service was called, and nothing was sent to the client yet.

Otherwise a failure without an answer is raised (503 with ``Retry-After`` for an open circuit
or a full bulkhead, 504 for a timeout, 502 else); a 5xx answer is relayed as it is.
"""

from __future__ import annotations

import logging

from aiohttp import web

from facade.exchange import Exchange
from facade.resilience.policy import may_fall_back

log = logging.getLogger("strangler.forward")  # the logger fallbacks were always logged under


async def stage(ex: Exchange) -> web.StreamResponse | None:
    call = ex.service
    if call is None or call.failure is None:
        return None
    failure = call.failure
    cap, upstream = ex.capability, ex.upstream
    assert cap is not None
    assert upstream is not None
    if cap.fallback == "legacy" and may_fall_back(
        call.method, failure, unsafe=cap.unsafe_falls_back
    ):
        call.release()  # a 5xx answer the monolith's replaces: never read
        ex.fell_back = True
        ex.state.metrics.fallbacks.labels(ex.capability_name, failure.reason).inc()
        if failure.reason not in ("circuit_open", "bulkhead_full"):  # counted, not logged
            log.warning(
                "%s %s: service %r failed (%s); served by the monolith",
                ex.request.method,
                ex.target.path if ex.target else "?",
                upstream.name,
                failure.detail,
            )
        return None
    if not call.answered:
        raise failure.error(upstream.name)
    return None  # the service's 5xx answer is the client's
