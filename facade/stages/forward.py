"""Send the request to the chosen upstream and stream its answer back.

A capability's service is called through its guard (``facade.resilience``: breaker, bulkhead,
deadline, retries); when that call fails and the capability says ``fallback: legacy``, the
monolith serves the request instead, if nothing was sent to the client yet and the policy
allows it (see ``facade.resilience.policy``).

The request body is read whole before any upstream is held (``facade.body_spool``: memory,
then a temporary file; idle timeout and deadline): a slow client holds no pooled connection,
no bulkhead slot, and spends none of a service attempt's timeout. The upstream then gets it
with a ``Content-Length`` (Django under gunicorn reads no body without one), as often as a
retry or a fallback needs. An answer of known size up to ``SMALL_BODY`` is read before it is
relayed, so it leaves in one write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, istr

from facade.body_spool import BodyLimits, SpooledBody, read_body
from facade.config import Capability, Config
from facade.errors import BodyTooLarge, UpstreamTimeout, UpstreamUnavailable
from facade.exchange import Exchange, route_header
from facade.headers import (
    Peer,
    downstream_response_headers,
    upstream_request_headers,
)
from facade.resilience.call import call_service
from facade.resilience.policy import Failure, may_fall_back
from facade.shadow import MAX_SHADOW_BODY
from facade.stages.shadow import shadow_call
from facade.state import LEGACY
from facade.translate import serve_translated, translator_for
from facade.upstream import describe_client_error
from parallel_run.compare import HttpAnswer

log = logging.getLogger("strangler.forward")
SMALL_BODY = 64 * 1024  # answers up to this size are relayed in one write; larger ones stream
_LOCATION_HEADERS = (istr("Location"), istr("Content-Location"))
_NO_BODY_STATUSES = frozenset({204, 304})
CLIENT_CLOSED = 499
# a request body as the stages hold it: None (no body), bytes (in memory) or a spooled file
Body = bytes | SpooledBody | None


async def stage(ex: Exchange) -> web.StreamResponse:
    request = ex.request
    assert ex.target is not None
    if ex.upstream is None:
        ex.upstream = ex.state.client(ex.config, LEGACY)
    headers = upstream_request_headers(
        request.headers,
        peer=Peer(request.remote or "", request.scheme, ex.public_host),
        trusted_hops=ex.config.routes.forwarded.trusted_hops,
        request_id=ex.request_id,
        traceparent=ex.traceparent,
    )
    try:
        body = await _request_body(ex, headers)
    except ConnectionResetError:
        # the client went away mid-body: no one to answer, nothing to log per connection
        # (aiohttp logs an escaped error with its traceback); counted as nginx's 499
        ex.status = CLIENT_CLOSED
        return web.Response(status=CLIENT_CLOSED)
    try:
        return await _forward(ex, headers, body)
    finally:
        if isinstance(body, SpooledBody):
            body.close()  # the temporary file goes with the request, however it ends


async def _forward(ex: Exchange, headers: CIMultiDict[str], body: Body) -> web.StreamResponse:
    request = ex.request
    assert ex.target is not None
    upstream = ex.upstream
    assert upstream is not None
    cap = ex.capability
    if upstream.name != LEGACY and cap is not None:
        served = await _serve_by_service(ex, cap, headers, body)
        if served is not None:
            return served
        upstream = ex.upstream  # fallen back: the monolith serves, below
        assert upstream is not None
    if ex.shadow:
        body = await _buffer_for_shadow(ex, body)
    captured: list[bytes] | None = [] if ex.shadow else None
    started = time.perf_counter()
    try:
        async with upstream.send(
            request.method, ex.target, headers=headers, body=_sendable(body)
        ) as answer:
            response = await _relay(ex, answer, captured)
    except TimeoutError as exc:
        raise UpstreamTimeout(upstream.name, "no answer within the timeout") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(upstream.name, describe_client_error(exc)) from exc
    if ex.shadow and captured is not None:
        legacy = HttpAnswer(answer.status, tuple(answer.headers.items()), b"".join(captured))
        shadow_call(ex, headers, body, legacy, (time.perf_counter() - started) * 1000)
    return response


def body_limits(config: Config, capability: Capability | None) -> BodyLimits:
    """How this request's body is read: the route's size limit, ``limits``' buffer and times."""
    limits = config.routes.limits
    return BodyLimits(
        max_body=config.max_body(capability),
        buffer=limits.body_buffer,
        idle_timeout=limits.body_idle_timeout,
        deadline=limits.body_deadline,
        spool_max=limits.body_spool_max,
    )


async def _serve_by_service(
    ex: Exchange, cap: Capability, headers: CIMultiDict[str], body: Body
) -> web.StreamResponse | None:
    """Serve from the capability's service, or return None to fall back to the monolith."""
    request = ex.request
    assert ex.upstream is not None
    assert ex.target is not None
    upstream = ex.upstream
    guard = ex.state.guard(ex.config, upstream.name)
    fallback = cap.fallback == "legacy"
    unsafe = cap.unsafe_falls_back
    if cap.translator is not None:
        translated = await serve_translated(
            request,
            upstream,
            translator_for(cap.translator, upstream=upstream.name),
            ex.target,
            body=await _whole(body),
            peer=Peer(request.remote or "", request.scheme, ex.public_host),
            trusted_hops=ex.config.routes.forwarded.trusted_hops,
            request_id=ex.request_id,
            traceparent=ex.traceparent,
            guard=guard,
            fallback=fallback,
            unsafe_fallback=unsafe,
        )
        if isinstance(translated, Failure):
            _fall_back(ex, translated)
            return None
        ex.status = translated.status
        if ex.config.routes.debug_headers:
            translated.headers["X-Strangler-Route"] = route_header(ex)
        return translated
    method = request.method
    target = ex.target
    # the body is whole: every attempt (retries) and the fallback send it again from the start
    outcome = await call_service(
        guard,
        method,
        lambda: upstream.send(method, target, headers=headers, body=_sendable(body)),
        status_of=_status,
        discard=_close,
        replayable=True,
    )
    failure = outcome.failure
    if failure is not None and fallback and may_fall_back(method, failure, unsafe=unsafe):
        if outcome.answer is not None:
            outcome.answer.close()
        outcome.release()
        _fall_back(ex, failure)
        return None
    if outcome.answer is None:
        assert failure is not None
        raise failure.error(upstream.name)
    try:
        async with outcome.answer as answer:
            return await _relay(ex, answer, None)
    except (TimeoutError, aiohttp.ClientError) as exc:
        if isinstance(exc, ConnectionResetError):
            raise  # the client went away, not the service
        # otherwise only a small answer's read raises here: nothing was sent to the client yet
        late = Failure(
            "timeout" if isinstance(exc, TimeoutError) else "upstream_error",
            describe_client_error(exc),
        )
        if fallback and may_fall_back(method, late, unsafe=unsafe):
            _fall_back(ex, late)
            return None
        raise late.error(upstream.name) from exc
    finally:
        outcome.release()


def _fall_back(ex: Exchange, failure: Failure) -> None:
    """The monolith serves this request instead of the capability's service."""
    assert ex.upstream is not None
    service = ex.upstream.name
    ex.state.metrics.fallbacks.labels(ex.capability_name, failure.reason).inc()
    if failure.reason not in ("circuit_open", "bulkhead_full"):  # those are counted, not logged
        log.warning(
            "%s %s: service %r failed (%s); served by the monolith",
            ex.request.method,
            ex.target.path if ex.target else "?",
            service,
            failure.detail,
        )
    ex.upstream = ex.state.client(ex.config, LEGACY)


def _sendable(body: Body) -> bytes | AsyncIterable[bytes] | None:
    """What the client library sends: a spooled body is read from its file, from the start."""
    return body.chunks() if isinstance(body, SpooledBody) else body


def _status(answer: aiohttp.ClientResponse) -> int:
    return answer.status


def _close(answer: aiohttp.ClientResponse) -> None:
    answer.close()  # a failed answer we will not relay: its connection is not worth saving


async def _buffer_for_shadow(ex: Exchange, body: Body) -> Body:
    """Both sides need the body in memory: read it if small enough, else do not shadow. The
    size counts wherever the body is: with a high ``limits.body_buffer`` a body over the
    shadow limit is held in memory, not spooled."""
    size = body.size if isinstance(body, SpooledBody) else len(body or b"")
    if size > MAX_SHADOW_BODY:
        ex.shadow = False
        ex.state.metrics.shadow_dropped.labels(ex.capability_name, "body_too_large").inc()
        return body
    return await body.read_all() if isinstance(body, SpooledBody) else body


async def _whole(body: Body) -> bytes:
    if isinstance(body, SpooledBody):
        return await body.read_all()
    return body or b""


async def _request_body(ex: Exchange, headers: CIMultiDict[str]) -> Body:
    """The request body, read whole within the body limits before any upstream is held.

    A request without a body costs nothing more than before: no read, no timer, no limits built.
    """
    request = ex.request
    length = request.content_length
    if length is None and not request.body_exists:
        return None
    limits = body_limits(ex.config, ex.capability)
    if length is not None:
        if length > limits.max_body:
            raise BodyTooLarge(
                f"the request body ({length} bytes) is over the {limits.max_body}-byte limit"
            )
        if not length:
            headers["Content-Length"] = "0"
            return b""
    body = await read_body(request.content, limits, spool=ex.state.spool)
    # the size read, not a copy of the client's framing: chunked bodies get one too
    headers["Content-Length"] = str(body.size if isinstance(body, SpooledBody) else len(body))
    return body


async def _relay(
    ex: Exchange, answer: aiohttp.ClientResponse, captured: list[bytes] | None
) -> web.StreamResponse:
    """Relay the answer; with ``captured``, also keep a copy of its body for the shadow."""
    request = ex.request
    assert ex.upstream is not None
    headers = downstream_response_headers(answer.headers)
    _rewrite_locations(headers, ex)
    if ex.config.routes.debug_headers:
        headers["X-Strangler-Route"] = route_header(ex)
    ex.status = answer.status
    bodiless = request.method == "HEAD" or answer.status in _NO_BODY_STATUSES
    length = answer.content_length
    if not bodiless and length is not None and length <= SMALL_BODY:
        # a small answer of known size is read first and sent in one write, headers included
        # (what nginx's proxy_buffering does); if the upstream breaks off meanwhile, the client
        # still gets a clean 502 rather than a cut connection
        body = await answer.read()
        if captured is not None:
            captured.append(body)
        return web.Response(status=answer.status, reason=answer.reason, headers=headers, body=body)
    response = web.StreamResponse(status=answer.status, reason=answer.reason, headers=headers)
    await response.prepare(request)
    if bodiless:
        await response.write_eof()
        return response
    while True:
        try:
            chunk = await answer.content.readany()
        except (aiohttp.ClientError, TimeoutError, asyncio.IncompleteReadError) as exc:
            # the status line is already sent: the only honest signal left is a cut connection,
            # so the client sees a truncated answer, never a complete-looking wrong one
            log.warning(
                "upstream %s broke off mid-answer for %s %s: %s",
                ex.upstream.name,
                request.method,
                ex.target.path if ex.target else "?",
                describe_client_error(exc),
            )
            ex.status = 502
            if request.transport is not None:
                request.transport.abort()
            return response
        if not chunk:
            break
        if captured is not None:
            _capture(ex, captured, chunk)
        try:
            await response.write(chunk)
        except ConnectionResetError:
            # the client went away (aiohttp's ClientConnectionResetError is also a ClientError:
            # caught here so it is never blamed on the upstream); nginx logs this as 499
            ex.status = CLIENT_CLOSED
            return response
    await response.write_eof()
    return response


def _capture(ex: Exchange, captured: list[bytes], chunk: bytes) -> None:
    if sum(map(len, captured)) + len(chunk) > MAX_SHADOW_BODY:
        # too big to hold for a comparison: this request is not shadowed after all
        ex.shadow = False
        ex.state.metrics.shadow_dropped.labels(ex.capability_name, "body_too_large").inc()
        captured.clear()
        return
    captured.append(chunk)


def _rewrite_locations(headers: CIMultiDict[str], ex: Exchange) -> None:
    """An upstream naming itself in a redirect is rewritten to the public origin (P10).

    The public authority is the client's Host (validated by the route stage) or, for an
    HTTP/1.0 request without one, the facade's own address as the client reached it: never
    the upstream's internal address, never a Host that is not a valid authority.
    """
    assert ex.upstream is not None
    if not any(name in headers for name in _LOCATION_HEADERS):
        return  # most answers: no authority to work out
    base = str(ex.upstream.base.origin())
    host = ex.public_host
    if host is None:
        return
    public = f"{ex.request.scheme}://{host}"
    for name in _LOCATION_HEADERS:
        value = headers.get(name)
        if value is not None and (value == base or value.startswith(base + "/")):
            headers[name] = public + value[len(base) :]
