"""Forward: the client's answer, relayed from the monolith or from the capability's service.

The monolith is called here, when it serves (no service chosen, or a fallback); a service's
answer was obtained by the ``service`` step already (and turned back through the translator
here, if it has one). An answer of known size up to ``SMALL_BODY`` is read before it is
relayed, so it leaves in one write; larger ones stream. When the request is shadowed, the
monolith's answer is kept (``ex.legacy_answer``) for the ``shadow`` step.

The answer goes on ``ex.response``; the step returns None, so the shadow hand-off still runs.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, istr

from facade.body_spool import Body, SpooledBody
from facade.errors import UpstreamTimeout, UpstreamUnavailable
from facade.exchange import CLIENT_CLOSED, Exchange, ServiceCall, route_header
from facade.headers import downstream_response_headers
from facade.shadow import MAX_SHADOW_BODY
from facade.stages.service import NO_BODY_STATUSES, SMALL_BODY, read_failure, sendable
from facade.state import LEGACY
from facade.upstream import Answer, Upstream, describe_client_error
from parallel_run.compare import HttpAnswer

log = logging.getLogger("strangler.forward")
_LOCATION_HEADERS = (istr("Location"), istr("Content-Location"))


async def stage(ex: Exchange) -> web.StreamResponse | None:
    call = ex.service
    if call is not None and not ex.fell_back:
        ex.response = await _from_service(ex, call)
        return None
    request = ex.request
    assert ex.target is not None
    assert ex.headers is not None
    upstream = ex.state.client(ex.config, LEGACY)
    body = ex.body
    if ex.shadow:
        body = await _buffer_for_shadow(ex, body)
        if body is not ex.body:
            # now in memory, for both sides: the temporary file can go at once
            ex.release_body()
            ex.body = body
    captured: list[bytes] | None = [] if ex.shadow else None
    started = time.perf_counter()
    try:
        async with upstream.send(
            request.method, ex.target, headers=ex.headers, body=sendable(body)
        ) as answer:
            ex.response = await _relay(ex, upstream, answer, captured)
    except TimeoutError as exc:
        raise UpstreamTimeout(upstream.name, "no answer within the timeout") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(upstream.name, describe_client_error(exc)) from exc
    if ex.shadow and captured is not None:
        ex.legacy_answer = HttpAnswer(
            answer.status, tuple(answer.headers.items()), b"".join(captured)
        )
        ex.legacy_ms = (time.perf_counter() - started) * 1000
    return None


async def _from_service(ex: Exchange, call: ServiceCall) -> web.StreamResponse:
    """The service's answer: turned back into the legacy API, or relayed as it came."""
    upstream = ex.upstream
    assert upstream is not None
    if call.translated is not None:
        response = call.translated.response(ex.request.method)
        ex.status = response.status
        if ex.config.routes.debug_headers:
            response.headers["X-Strangler-Route"] = route_header(ex)
        return response
    assert call.answer is not None
    try:
        return await _relay(ex, upstream, call.answer, None)
    except ConnectionResetError:
        raise  # the client went away, not the service
    except (TimeoutError, aiohttp.ClientError) as exc:
        # only reading a small 5xx answer raises here: nothing was sent to the client yet
        raise read_failure(exc).error(upstream.name) from exc
    finally:
        await call.finish()


async def _buffer_for_shadow(ex: Exchange, body: Body | None) -> Body | None:
    """Both sides need the body in memory: read it if small enough, else do not shadow. The
    size counts wherever the body is: with a high ``limits.body_buffer`` a body over the
    shadow limit is held in memory, not spooled."""
    size = body.size if isinstance(body, SpooledBody) else len(body or b"")
    if size > MAX_SHADOW_BODY:
        ex.shadow = False
        ex.state.metrics.shadow_dropped.labels(ex.capability_name, "body_too_large").inc()
        return body
    return await body.read_all() if isinstance(body, SpooledBody) else body


async def _relay(
    ex: Exchange, upstream: Upstream, answer: Answer, captured: list[bytes] | None
) -> web.StreamResponse:
    """Relay the answer; with ``captured``, also keep a copy of its body for the shadow."""
    request = ex.request
    headers = downstream_response_headers(answer.headers)
    _rewrite_locations(headers, ex, upstream)
    if ex.config.routes.debug_headers:
        headers["X-Strangler-Route"] = route_header(ex)
    ex.status = answer.status
    bodiless = request.method == "HEAD" or answer.status in NO_BODY_STATUSES
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
                upstream.name,
                request.method,
                ex.target.path if ex.target else "?",
                describe_client_error(exc),
            )
            ex.status = 502
            _not_whole(ex, captured)
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
            _not_whole(ex, captured)
            return response
    await response.write_eof()
    return response


def _not_whole(ex: Exchange, captured: list[bytes] | None) -> None:
    """The answer was not relayed whole: part of the monolith's body compared with the whole
    candidate's would be recorded as a mismatch of the facade's making; not shadowed."""
    if captured is not None:
        ex.shadow = False
        captured.clear()


def _capture(ex: Exchange, captured: list[bytes], chunk: bytes) -> None:
    if sum(map(len, captured)) + len(chunk) > MAX_SHADOW_BODY:
        # too big to hold for a comparison: this request is not shadowed after all
        ex.shadow = False
        ex.state.metrics.shadow_dropped.labels(ex.capability_name, "body_too_large").inc()
        captured.clear()
        return
    captured.append(chunk)


def _rewrite_locations(headers: CIMultiDict[str], ex: Exchange, upstream: Upstream) -> None:
    """An upstream naming itself in a redirect is rewritten to the public origin (P10).

    The public authority is the client's Host (validated by the route stage) or, for an
    HTTP/1.0 request without one, the facade's own address as the client reached it: never
    the upstream's internal address, never a Host that is not a valid authority.
    """
    if not any(name in headers for name in _LOCATION_HEADERS):
        return  # most answers: no authority to work out
    base = str(upstream.base.origin())
    host = ex.public_host
    if host is None:
        return
    public = f"{ex.request.scheme}://{host}"
    for name in _LOCATION_HEADERS:
        value = headers.get(name)
        if value is not None and (value == base or value.startswith(base + "/")):
            headers[name] = public + value[len(base) :]
