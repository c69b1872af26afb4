"""Normalize the request-target once, answer reserved paths, and find the capability."""

from __future__ import annotations

from aiohttp import web

from facade.admin import RESERVED_PATHS, answer_reserved
from facade.errors import RequestRejected
from facade.exchange import Exchange
from facade.normalize import normalize_target


async def stage(ex: Exchange) -> web.StreamResponse | None:
    request = ex.request
    if len(request.headers.getall("Host", ())) > 1:
        raise RequestRejected("more than one Host header")
    ex.target = normalize_target(
        request.raw_path, dot_segments=ex.config.routes.limits.dot_segments
    )
    reserved = ex.target.path.rstrip("/") or "/"
    if reserved in RESERVED_PATHS:
        ex.answered_locally = True
        return await answer_reserved(reserved, ex)
    ex.match = ex.config.matcher.match(request.method, ex.target.path)
    if ex.match is not None:
        ex.capability = ex.config.routes.capabilities[ex.match.route.capability]
    return None
