"""Call the capability's service, when the mode chose it: through its guard (breaker,
bulkhead, deadline, retries, ``facade.resilience``) and its translator, if it has one.

The outcome goes on the Exchange (``ex.service``): the answer, its failure, or both (a 5xx
answer). Whether the monolith serves instead is the next step's decision (``fallback``).

An untranslated answer is kept open for the forward step to stream; a good one, small and of
known size (up to ``SMALL_BODY``), has its body read here, so a service that breaks off while
sending it is a failure like any other (the monolith may still serve: nothing was sent to the
client yet) and the forward step sends it in one write. A 5xx answer's body is read only if it
is relayed: a fallback never waits for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from contextlib import AbstractAsyncContextManager
from typing import NamedTuple

import aiohttp
from aiohttp import web

from facade.body_spool import SpooledBody
from facade.exchange import Exchange, ServiceCall
from facade.headers import Peer
from facade.resilience.call import call_service
from facade.resilience.policy import Failure
from facade.translate import call_guarded, translator_for
from facade.upstream import Answer, Upstream, describe_client_error

SMALL_BODY = 64 * 1024  # answers up to this size are relayed in one write; larger ones stream
NO_BODY_STATUSES = frozenset({204, 304})


class Opened(NamedTuple):
    """One attempt's answer (status and headers read) and the request that holds it."""

    context: AbstractAsyncContextManager[Answer]
    answer: Answer


async def stage(ex: Exchange) -> web.StreamResponse | None:
    upstream = ex.upstream
    cap = ex.capability
    if upstream is None or cap is None:
        return None  # the monolith serves: the forward step calls it
    if cap.translator is not None:
        ex.service = await _call_translated(ex, upstream, cap.translator)
        return None
    request = ex.request
    method = request.method
    target, headers, body = ex.target, ex.headers, ex.body
    assert target is not None
    assert headers is not None

    async def attempt() -> Opened:
        # the body is whole: every attempt (retries) and the fallback send it from the start
        context = upstream.send(method, target, headers=headers, body=sendable(body))
        return Opened(context, await context.__aenter__())

    outcome = await call_service(
        ex.state.guard(ex.config, upstream.name),
        method,
        attempt,
        status_of=_status,
        discard=_close,
        replayable=True,
    )
    if outcome.answer is None:
        ex.service = ServiceCall(method, outcome.failure)  # the bulkhead slot is free already
        return None
    answer = outcome.answer.answer
    call = ex.service = ServiceCall(
        method, outcome.failure, answer=answer, context=outcome.answer.context, outcome=outcome
    )
    if outcome.failure is None and whole_at_once(method, answer):
        try:
            await answer.read()  # kept by the answer: the forward step's read() returns it
        except ConnectionResetError:
            raise  # the client went away, not the service
        except (TimeoutError, aiohttp.ClientError) as exc:
            call.release()
            call.answer = None
            call.failure = read_failure(exc)
    return None


def read_failure(exc: TimeoutError | aiohttp.ClientError) -> Failure:
    """Why reading an answer's body failed, once its status and headers had come."""
    return Failure(
        "timeout" if isinstance(exc, TimeoutError) else "upstream_error",
        describe_client_error(exc),
    )


async def _call_translated(ex: Exchange, upstream: Upstream, spec: str) -> ServiceCall:
    request = ex.request
    assert ex.target is not None
    body = ex.body
    called = await call_guarded(
        request,
        upstream,
        translator_for(spec, upstream=upstream.name),
        ex.target,
        body=await body.read_all() if isinstance(body, SpooledBody) else body or b"",
        peer=Peer(request.remote or "", request.scheme, ex.public_host),
        trusted_hops=ex.config.routes.forwarded.trusted_hops,
        request_id=ex.request_id,
        traceparent=ex.traceparent,
        guard=ex.state.guard(ex.config, upstream.name),
    )
    return ServiceCall(
        called.method, called.failure, translated=called if called.answer is not None else None
    )


def whole_at_once(method: str, answer: Answer) -> bool:
    """A small answer of known size is read first and sent in one write, headers included
    (what nginx's ``proxy_buffering`` does); larger or unknown ones stream."""
    if method == "HEAD" or answer.status in NO_BODY_STATUSES:
        return False
    length = answer.content_length
    return length is not None and length <= SMALL_BODY


def sendable(body: bytes | SpooledBody | None) -> bytes | AsyncIterable[bytes] | None:
    """What the client library sends: a spooled body is read from its file, from the start."""
    return body.chunks() if isinstance(body, SpooledBody) else body


def _status(opened: Opened) -> int:
    return opened.answer.status


def _close(opened: Opened) -> None:
    opened.answer.close()  # a failed answer we will not relay: its connection is not worth saving
