"""Choose who serves: the monolith, or the capability's service (canary bucket, cut over)."""

from __future__ import annotations

import hashlib
import random

from aiohttp import web

from facade.exchange import Exchange
from facade.shadow import wants_shadow
from facade.upstream import UpstreamClient


async def stage(ex: Exchange) -> web.StreamResponse | None:
    cap = ex.capability
    if cap is None or ex.match is None:
        return None  # no capability: the monolith, unchanged
    ex.mode = cap.mode
    if cap.service is None:
        return None
    if cap.mode == "shadow":
        ex.shadow = wants_shadow(cap, ex.request.method, random.random())
        return None
    if cap.mode == "extracted" or (
        cap.mode == "canary"
        and in_canary(
            ex.match.route.capability, sticky_key(ex, cap.canary.sticky), cap.canary.percent
        )
    ):
        ex.upstream = _service(ex, cap.service)
    # legacy and shadow: the monolith answers (shadow's background call is parallel_run's job)
    return None


def _service(ex: Exchange, name: str) -> UpstreamClient:
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


def in_canary(capability: str, key: str, percent: float) -> bool:
    """Stable across processes and restarts: a salted hash, not Python's randomized hash()."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    digest = hashlib.sha256(f"{capability}\x00{key}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64 * 100
    return bucket < percent
