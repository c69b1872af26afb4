"""The request pipeline: every step a proxied request takes, in order, in one list.

``default_stages()`` is the whole story of a request (as mitmproxy's ``default_addons()``):

1. ``route``: check the Host, normalize the request-target once, answer the reserved paths
   (``/healthz``, ``/metrics``...), find the capability.
2. ``expect``: ``Expect: 100-continue``: 417 for another expectation, 413 for a body announced
   over the limit, else the interim ``100 Continue``; on the route's match, no second look.
3. ``mode``: decide who serves: the monolith, or the capability's service (canary bucket, cut
   over), and whether a copy goes to the service in the background (shadow).
4. ``body``: the headers every upstream gets, and the body, read whole within the limits
   before any upstream is held.
5. ``service``: call the chosen service through its guard (breaker, bulkhead, deadline,
   retries) and its translator, if any; record its answer or its failure.
6. ``fallback``: after a failure, let the monolith serve (when the capability and the method
   allow it), or answer the failure's error.
7. ``forward``: the monolith's answer (sent there now), or the service's already obtained,
   relayed to the client; the monolith's kept for a shadow comparison.
8. ``shadow``: hand the request and the monolith's answer to the shadow runner.

The names say what each step does to the request, not which module it lives in: ``forward``
is the proxy's own word for "send on and relay back", the one step that writes to the client.

A stage reads and updates the Exchange. It returns a response to answer there and stop the
chain (a halt: the route's 400, the expect's 413, the body's 499), or None to pass it on. Each
records its own decision on the Exchange and never undoes another's (``facade.exchange``); the
``forward`` step leaves its answer on ``ex.response`` so the shadow hand-off still runs after
it. What a stage raises is answered by ``Facade.handle`` (problem+json), and what the stages
held (an unrelayed answer, a spooled body) is released there, however the request ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from facade.exchange import Exchange
from facade.stages import body, expect, fallback, forward, mode, route, service, shadow

Stage = Callable[[Exchange], Awaitable[web.StreamResponse | None]]


def default_stages() -> list[Stage]:
    return [
        route.stage,
        expect.stage,
        mode.stage,
        body.stage,
        service.stage,
        fallback.stage,
        forward.stage,
        shadow.stage,
    ]
