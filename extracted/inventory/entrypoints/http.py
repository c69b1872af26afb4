"""The inventory's v1 HTTP API (``/v1/stock``): thin aiohttp handlers, JSON in and out, each use
case in a worker thread; its errors mapped to its own shape by the chassis's middleware.
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

from extracted.chassis.http import error_middleware, json_response
from extracted.chassis.http import healthz as chassis_healthz
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


def _domain_error(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """The inventory's shape ``{"error": {"code", "message", "details"}}`` for its errors."""
    details: dict[str, object]
    match exc:
        case InvalidRequest():
            return 422, error_json("invalid_request", exc.message, {"field": exc.field})
        case StockNotFound():
            return 404, error_json("stock_not_found", exc.message, {"sku": exc.sku})
        case ReservationNotFound():
            details = {"sku": exc.sku, "idempotency_key": exc.key}
            return 404, error_json("reservation_not_found", exc.message, details)
        case InsufficientStock():
            details = {"sku": exc.sku, "requested": exc.requested, "available": exc.available}
            return 409, error_json("insufficient_stock", exc.message, details)
        case ReservationCancelled():
            details = {"idempotency_key": exc.key}
            return 409, error_json("reservation_cancelled", exc.message, details)
        case ReservationFulfilled():
            details = {"idempotency_key": exc.key}
            return 409, error_json("reservation_fulfilled", exc.message, details)
        case IdempotencyKeyReused():
            details = {"idempotency_key": exc.key}
            return 422, error_json("idempotency_key_reused", exc.message, details)
    return None


error_shape = error_middleware(domain_error=_domain_error, error_json=error_json, log=log)
healthz = chassis_healthz(ENGINE, error_json=error_json, log=log)


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
    return json_response(200, stock_to_json(level))


async def put_stock(request: web.Request) -> web.Response:
    command = set_stock_from_json(await _body(request), sku=request.match_info["sku"])
    result = await asyncio.to_thread(services.stock_upsert, _uow(request), command)
    return json_response(201 if result.created else 200, stock_to_json(result.level))


async def post_reservation(request: web.Request) -> web.Response:
    command = reservation_from_json(await _body(request), sku=request.match_info["sku"])
    result = await _keyed(request, lambda uow: services.reservation_place(uow, command))
    response = json_response(201 if result.created else 200, reserved_to_json(result))
    response.headers["Location"] = f"/v1/stock/{command.sku}/reservations/{command.key}"
    return response


async def get_reservation(request: web.Request) -> web.Response:
    sku, key = request.match_info["sku"], request.match_info["key"]
    result = await asyncio.to_thread(services.reservation_get, _uow(request), sku, key)
    return json_response(200, reserved_to_json(result))


async def delete_reservation(request: web.Request) -> web.Response:
    sku, key = request.match_info["sku"], request.match_info["key"]
    result = await _keyed(request, lambda uow: services.reservation_cancel(uow, sku, key))
    return json_response(200, reserved_to_json(result))


async def post_fulfilment(request: web.Request) -> web.Response:
    sku, key = request.match_info["sku"], request.match_info["key"]
    result = await asyncio.to_thread(services.reservation_fulfil, _uow(request), sku, key)
    return json_response(200, reserved_to_json(result))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/stock/{sku}", get_stock)
    app.router.add_put("/v1/stock/{sku}", put_stock)
    app.router.add_post("/v1/stock/{sku}/reservations", post_reservation)
    app.router.add_get("/v1/stock/{sku}/reservations/{key}", get_reservation)
    app.router.add_delete("/v1/stock/{sku}/reservations/{key}", delete_reservation)
    app.router.add_post("/v1/stock/{sku}/reservations/{key}/fulfilment", post_fulfilment)
