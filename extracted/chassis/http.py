"""The HTTP pieces every service shares: JSON answers, the error middleware, ``/healthz``.

The error shape stays the service's own: it passes its ``error_json`` and maps its own
exceptions (``domain_error``); the chassis adds what is the same everywhere (aiohttp's HTTP
errors, and a 500 that never leaks a traceback).

Handlers run every use case in a worker thread (``asyncio.to_thread``): SQLAlchemy is
synchronous and the event loop must never wait on the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from sqlalchemy import Engine

from extracted.chassis.database import ping

ErrorJson = Callable[[str, str], dict[str, Any]]
"""A service's error body for (code, message)."""

DomainError = Callable[[Exception], tuple[int, dict[str, Any]] | None]
"""(status, body) for one of the service's own exceptions, None for any other."""


STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def json_response(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status)


def error_middleware(
    *, domain_error: DomainError, error_json: ErrorJson, log: logging.Logger
) -> Middleware:
    """A middleware through which every error leaves in the service's shape."""

    @web.middleware
    async def error_shape(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = STATUS_CODES.get(exc.status, "http_error")
            response = json_response(exc.status, error_json(code, exc.reason))
            if isinstance(exc, web.HTTPMethodNotAllowed):
                response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
            return response
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if (answer := domain_error(exc)) is not None:
                return json_response(*answer)
            # the client gets a code, never a traceback; the log gets the traceback
            log.exception("unexpected error on %s %s", request.method, request.path)
            return json_response(500, error_json("internal", "internal error"))

    return error_shape


def healthz(
    engine: web.AppKey[Engine], *, error_json: ErrorJson, log: logging.Logger
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``/healthz`` handler: 200 while the database answers, 503 in the service's shape."""

    async def handler(request: web.Request) -> web.Response:
        try:
            await asyncio.to_thread(ping, request.app[engine])
        except Exception as exc:
            log.warning("healthz: database not reachable: %s", exc)
            body = error_json("database_unavailable", "database not reachable")
            return json_response(503, {"status": "unavailable", **body})
        return json_response(200, {"status": "ok"})

    return handler
