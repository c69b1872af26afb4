"""The v1 HTTP API: thin aiohttp handlers, JSON in and out, errors mapped in one middleware.

Every use case runs in a worker thread (``asyncio.to_thread``): SQLAlchemy is synchronous
and the event loop must never wait on the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from extracted.inventory.adapters.database import ping
from extracted.inventory.entrypoints.schema import (
    error_json,
    reservation_from_json,
    reserved_to_json,
    set_stock_from_json,
    stock_to_json,
)
from extracted.inventory.errors import (
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidRequest,
    ReservationCancelled,
    ReservationFulfilled,
    ReservationNotFound,
    StockNotFound,
)
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger("strangler.extracted.inventory")

ENGINE = web.AppKey("inventory_engine", Engine)
UNIT_OF_WORK: web.AppKey[Callable[[], UnitOfWork]] = web.AppKey("inventory_unit_of_work")

_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def _json(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status)


@web.middleware
async def error_shape(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    """Every error leaves in the inventory's shape ``{"error": {"code", "message", ...}}``."""
    details: dict[str, object]
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except InvalidRequest as exc:
        return _json(422, error_json("invalid_request", exc.message, {"field": exc.field}))
    except StockNotFound as exc:
        return _json(404, error_json("stock_not_found", exc.message, {"sku": exc.sku}))
    except ReservationNotFound as exc:
        details = {"sku": exc.sku, "idempotency_key": exc.key}
        return _json(404, error_json("reservation_not_found", exc.message, details))
    except InsufficientStock as exc:
        details = {
            "sku": exc.sku,
            "requested": exc.requested,
            "available": exc.available,
        }
        return _json(409, error_json("insufficient_stock", exc.message, details))
    except ReservationCancelled as exc:
        details = {"idempotency_key": exc.key}
        return _json(409, error_json("reservation_cancelled", exc.message, details))
    except ReservationFulfilled as exc:
        details = {"idempotency_key": exc.key}
        return _json(409, error_json("reservation_fulfilled", exc.message, details))
    except IdempotencyKeyReused as exc:
        details = {"idempotency_key": exc.key}
        return _json(422, error_json("idempotency_key_reused", exc.message, details))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "http_error")
        response = _json(exc.status, error_json(code, exc.reason))
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    except asyncio.CancelledError:
        raise
    except Exception:
        # the client gets a code, never a traceback; the log gets the traceback
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _json(500, error_json("internal", "internal error"))


async def _body(request: web.Request) -> object:
    try:
        return json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"the body is not JSON: {exc}", field="body") from exc


def _uow(request: web.Request) -> UnitOfWork:
    return request.app[UNIT_OF_WORK]()


T = TypeVar("T")


async def _keyed(request: web.Request, use_case: Callable[[UnitOfWork], T]) -> T:
    """Run a use case that inserts a reservation under a client's key. On a server database
    two requests with one new key can both find it unused; the loser's insert breaks the
    primary key and rolls back, and running it again answers what the winner recorded
    (SQLite's BEGIN IMMEDIATE serialises them before that can happen)."""
    try:
        return await asyncio.to_thread(use_case, _uow(request))
    except IntegrityError:
        return await asyncio.to_thread(use_case, _uow(request))


async def get_stock(request: web.Request) -> web.Response:
    sku = request.match_info["sku"]
    level = await asyncio.to_thread(services.stock_get, _uow(request), sku)
    return _json(200, stock_to_json(level))


async def put_stock(request: web.Request) -> web.Response:
    command = set_stock_from_json(await _body(request), sku=request.match_info["sku"])
    result = await asyncio.to_thread(services.stock_upsert, _uow(request), command)
    return _json(201 if result.created else 200, stock_to_json(result.level))


async def post_reservation(request: web.Request) -> web.Response:
    command = reservation_from_json(await _body(request), sku=request.match_info["sku"])
    result = await _keyed(request, lambda uow: services.reservation_place(uow, command))
    response = _json(201 if result.created else 200, reserved_to_json(result))
    response.headers["Location"] = f"/v1/stock/{command.sku}/reservations/{command.key}"
    return response


async def get_reservation(request: web.Request) -> web.Response:
    sku, key = request.match_info["sku"], request.match_info["key"]
    result = await asyncio.to_thread(services.reservation_get, _uow(request), sku, key)
    return _json(200, reserved_to_json(result))


async def delete_reservation(request: web.Request) -> web.Response:
    sku, key = request.match_info["sku"], request.match_info["key"]
    result = await _keyed(request, lambda uow: services.reservation_cancel(uow, sku, key))
    return _json(200, reserved_to_json(result))


async def post_fulfilment(request: web.Request) -> web.Response:
    sku, key = request.match_info["sku"], request.match_info["key"]
    result = await asyncio.to_thread(services.reservation_fulfil, _uow(request), sku, key)
    return _json(200, reserved_to_json(result))


async def healthz(request: web.Request) -> web.Response:
    try:
        await asyncio.to_thread(ping, request.app[ENGINE])
    except Exception as exc:
        log.warning("healthz: database not reachable: %s", exc)
        body = error_json("database_unavailable", "database not reachable")
        return _json(503, {"status": "unavailable", **body})
    return _json(200, {"status": "ok"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/stock/{sku}", get_stock)
    app.router.add_put("/v1/stock/{sku}", put_stock)
    app.router.add_post("/v1/stock/{sku}/reservations", post_reservation)
    app.router.add_get("/v1/stock/{sku}/reservations/{key}", get_reservation)
    app.router.add_delete("/v1/stock/{sku}/reservations/{key}", delete_reservation)
    app.router.add_post("/v1/stock/{sku}/reservations/{key}/fulfilment", post_fulfilment)
