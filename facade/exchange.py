"""Per-request state passed through the stages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from facade.config import Capability, Config, Mode
from facade.config.matching import Match
from facade.config.normalize import Target
from facade.state import LEGACY, FacadeState
from facade.upstream import UpstreamClient

FACADE = "facade"


@dataclass(slots=True)
class Exchange:
    """One client request on its way through the facade."""

    request: web.BaseRequest
    state: FacadeState
    config: Config  # the configuration this request started with, whatever reloads happen
    request_id: str
    traceparent: str
    started: float = field(default_factory=time.perf_counter)
    # the authority the client addressed (the route stage's check_host), for forwarded headers
    # and rewritten Location headers
    public_host: str | None = None
    target: Target | None = None
    match: Match | None = None
    capability: Capability | None = None
    mode: Mode = "legacy"
    upstream: UpstreamClient | None = None
    status: int = 0
    answered_locally: bool = False  # reserved paths and rejections: no upstream involved
    shadow: bool = False  # also send this request to the capability's service, in the background

    @property
    def capability_name(self) -> str:
        """The capability's name, or ``-`` for traffic that belongs to no capability."""
        return self.match.route.capability if self.match is not None else "-"

    @property
    def served_by(self) -> str:
        if self.answered_locally:
            return FACADE
        return self.upstream.name if self.upstream is not None else LEGACY


def route_header(ex: Exchange) -> str:
    """``X-Strangler-Route: <capability>;<mode>;<served-by>`` (with ``debug_headers: true``)."""
    return f"{ex.capability_name};{ex.mode};{ex.served_by}"
