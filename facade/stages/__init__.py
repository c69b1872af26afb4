"""The request pipeline: each stage reads and updates the Exchange, or answers (halts).

The order lives in one list, ``default_stages()``; a stage returns a response to stop the
chain there, or None to pass the exchange on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from facade.exchange import Exchange
from facade.stages import forward, mode, route

Stage = Callable[[Exchange], Awaitable[web.StreamResponse | None]]


def default_stages() -> list[Stage]:
    return [route.stage, mode.stage, forward.stage]
