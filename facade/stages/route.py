"""Check the Host, normalize the request-target once, answer reserved paths, find the capability."""

from __future__ import annotations

from aiohttp import HttpVersion11, web

from facade.admin import answer_reserved, reserved_path
from facade.config.normalize import normalize_target
from facade.errors import RequestRejected
from facade.exchange import Exchange
from facade.headers import authority_of, valid_authority


async def stage(ex: Exchange) -> web.StreamResponse | None:
    request = ex.request
    ex.public_host = check_host(request)
    ex.target = normalize_target(
        request.raw_path, dot_segments=ex.config.routes.limits.dot_segments
    )
    reserved = reserved_path(ex.target.path)
    if reserved is not None:
        ex.answered_locally = True
        return await answer_reserved(reserved, ex)
    ex.match = ex.config.matcher.match(request.method, ex.target.path)
    if ex.match is not None:
        ex.capability = ex.config.routes.capabilities[ex.match.route.capability]
        # the capability's mode names it in metrics and X-Strangler-Route from here on, also
        # for an answer made before the mode step (the expect step's 417 and 413)
        ex.mode = ex.capability.mode
    return None


def check_host(request: web.BaseRequest) -> str | None:
    """The authority the client addressed; RequestRejected (400) unless the request has at most
    one Host, a valid authority.

    The Host is forwarded unchanged and written into rewritten ``Location`` headers: a value
    such as ``evil.example/x`` or ``a@b`` would put the client's text into a redirect. HTTP/1.1
    requires a Host (RFC 9112 §3.2); an HTTP/1.0 request may omit it, and then the authority
    is the facade's own address as the client reached it, never the upstream's internal one.
    """
    hosts = request.headers.getall("Host", ())
    if len(hosts) > 1:
        raise RequestRejected("more than one Host header")
    if not hosts:
        if request.version >= HttpVersion11:
            raise RequestRejected("an HTTP/1.1 request needs a Host header")
        transport = request.transport
        return authority_of(transport.get_extra_info("sockname")) if transport is not None else None
    if not valid_authority(hosts[0]):
        raise RequestRejected("the Host header is not a valid host[:port]")
    return hosts[0]
