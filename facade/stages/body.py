"""What every upstream is sent: the forwarded headers, and the body read whole first.

The request body is read before any upstream is held (``facade.body_spool``: memory, then a
temporary file; idle timeout and deadline): a slow client holds no pooled connection, no
bulkhead slot, and spends none of a service attempt's timeout. The upstream then gets it with
a ``Content-Length`` (Django under gunicorn reads no body without one), as often as a retry or
a fallback needs. A request without a body costs nothing more: no read, no timer, no limits.
"""

from __future__ import annotations

from aiohttp import web

from facade.body_spool import BodyLimits, SpooledBody, read_body
from facade.config import Capability, Config
from facade.errors import BodyTooLarge
from facade.exchange import CLIENT_CLOSED, Exchange
from facade.headers import Peer, upstream_request_headers


async def stage(ex: Exchange) -> web.StreamResponse | None:
    request = ex.request
    ex.headers = headers = upstream_request_headers(
        request.headers,
        peer=Peer(request.remote or "", request.scheme, ex.public_host),
        trusted_hops=ex.config.routes.forwarded.trusted_hops,
        request_id=ex.request_id,
        traceparent=ex.traceparent,
    )
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
            ex.body = b""
            return None
    try:
        body = ex.body = await read_body(request.content, limits, spool=ex.state.spool)
    except ConnectionResetError:
        # the client went away mid-body: no one to answer, nothing to log per connection
        # (aiohttp logs an escaped error with its traceback); counted as nginx's 499
        ex.status = CLIENT_CLOSED
        return web.Response(status=CLIENT_CLOSED)
    # the size read, not a copy of the client's framing: chunked bodies get one too
    headers["Content-Length"] = str(body.size if isinstance(body, SpooledBody) else len(body))
    return None


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
