"""Choose who serves: the monolith, or the capability's service (canary bucket, cut over).

The decision is ``ex.upstream`` (the service's client; None: the monolith) and ``ex.shadow``;
later steps read it and never change it (a fallback is recorded apart, ``ex.fell_back``; the
forward step only drops a shadow copy whose body is too large to compare).
"""

from __future__ import annotations

import random

from aiohttp import web

from facade.config.bucket import in_share
from facade.exchange import Exchange
from facade.shadow import wants_shadow
from facade.upstream import Upstream


async def stage(ex: Exchange) -> web.StreamResponse | None:
    cap = ex.capability
    if cap is None or ex.match is None:
        return None  # no capability: the monolith, unchanged
    if cap.service is None:
        return None
    if cap.mode == "shadow":
        ex.shadow = wants_shadow(cap, ex.request.method, random.random())
        return None
    if cap.mode == "extracted" or (
        cap.mode == "canary"
        and in_share(
            ex.match.route.capability, sticky_key(ex, cap.canary.sticky), cap.canary.percent
        )
    ):
        ex.upstream = _service(ex, cap.service)
    # legacy and shadow: the monolith answers (shadow's background call is parallel_run's job)
    return None


def _service(ex: Exchange, name: str) -> Upstream:
    return ex.state.client(ex.config, name)


def sticky_key(ex: Exchange, sticky: str) -> str:
    """The value that pins a client to one side: a header, a cookie, or the client address."""
    kind, _, name = sticky.partition(":")
    request = ex.request
    value: str | None = None
    if kind == "header":
        value = request.headers.get(name)
    elif kind == "cookie":
        value = request.cookies.get(name)
    return value if value else (request.remote or "")
