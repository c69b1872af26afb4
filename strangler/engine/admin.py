"""``/healthz``, ``/readyz`` and ``/metrics`` of ``serve --engine envoy``: Envoy routes them
to this small aiohttp server (on loopback), which answers them with the Python facade's
meaning (facade/admin.py):

- ``/healthz``: the engine lives;
- ``/readyz``: 200 when Envoy is live, the monolith reachable and no stop is under way; its
  details (the routes file, its digest, the last reload error, the helpers) only for callers
  ``facade.admin.client_allowed`` lets in, judged on the client address Envoy passes on;
- ``/metrics``: Envoy's stats under the facade's metric names (``envoy_stats``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from facade.admin import ALLOWED_METHODS, STALE_AFTER, client_allowed, reserved_path
from facade.config import Config
from facade.problem import problem_response
from strangler.engine import envoy_admin
from strangler.engine.envoy_stats import facade_metrics
from strangler.export.envoy import CLIENT_ADDRESS_HEADER


@dataclass
class EngineState:
    """What the admin server reports; the supervisor keeps it current."""

    path: Path
    config: Config
    envoy_admin_url: str
    helpers: dict[str, str] = field(default_factory=dict)  # name -> URL
    last_reload_error: str | None = None
    envoy_live: bool = False
    # the routes.yaml digest of the routes Envoy reports in force (its RDS version_info)
    envoy_routes: str | None = None
    children: dict[str, int | None] = field(default_factory=dict)  # name -> pid
    legacy_ok: bool = False
    legacy_detail: str = "not probed yet"
    checked_at: float = float("-inf")
    stopping: bool = False

    @property
    def ready(self) -> bool:
        fresh = time.monotonic() - self.checked_at < STALE_AFTER
        return self.envoy_live and self.legacy_ok and fresh and not self.stopping


STATE = web.AppKey("state", EngineState)
SESSION = web.AppKey("session", aiohttp.ClientSession)


def _json(status: int, body: object) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _allowed(request: web.Request, state: EngineState) -> bool:
    peer = request.headers.get(CLIENT_ADDRESS_HEADER) or request.remote
    authorization = request.headers.get("Authorization", "")
    return client_allowed(peer, authorization, state.config.routes.admin.token_env)


def readiness(state: EngineState, *, detailed: bool) -> web.Response:
    body: dict[str, object] = {"status": "ready" if state.ready else "not ready"}
    if detailed:
        fresh = time.monotonic() - state.checked_at < STALE_AFTER
        body |= {
            "engine": "envoy",
            "envoy": {"live": state.envoy_live, "routes_sha256": state.envoy_routes},
            "children": dict(state.children),
            "legacy": {"reachable": state.legacy_ok and fresh, "detail": state.legacy_detail},
            "config": {
                "path": str(state.path),
                "sha256": state.config.digest,
                "last_reload_error": state.last_reload_error,
                "inventory_problem": state.config.inventory_problem,
            },
            "helpers": dict(state.helpers),
            "draining": state.stopping,
        }
    return _json(200 if state.ready else 503, body)


async def answer(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    path = reserved_path(request.path)
    if path is None:
        return problem_response(404, "Not Found", "the admin server answers reserved paths only")
    if request.method not in ALLOWED_METHODS:
        response = problem_response(
            405, "Method Not Allowed", f"{path} answers {' and '.join(ALLOWED_METHODS)} only"
        )
        response.headers["Allow"] = ", ".join(ALLOWED_METHODS)
        return response
    if path == "/healthz":
        return _json(200, {"status": "ok"})
    allowed = _allowed(request, state)
    if path == "/readyz":
        return readiness(state, detailed=allowed)
    if not allowed:
        return problem_response(
            403, "Forbidden", "metrics are served to loopback clients or with the admin token"
        )
    try:
        text = await envoy_admin.prometheus(request.app[SESSION], state.envoy_admin_url)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return problem_response(503, "Service Unavailable", f"Envoy's stats: {exc}")
    return web.Response(
        body=facade_metrics(text, state.config).encode(),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


def create_app(state: EngineState, session: aiohttp.ClientSession) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app[SESSION] = session
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


__all__ = ["EngineState", "create_app", "readiness"]
