"""The catalog's v1 HTTP API (``/v1/products``): thin aiohttp handlers, JSON in and out, each use
case in a worker thread; its errors mapped to its own shape by the chassis's middleware.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from extracted.catalog.domain.model import Currency
from extracted.catalog.domain.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ProductQuery
from extracted.catalog.entrypoints.schema import (
    error_json,
    page_to_json,
    product_to_json,
    upsert_from_json,
)
from extracted.catalog.errors import InvalidParameter, InvalidProduct, ProductNotFound
from extracted.catalog.service_layer import services
from extracted.catalog.service_layer.unit_of_work import UnitOfWork
from extracted.chassis.http import error_middleware, json_response
from extracted.chassis.http import healthz as chassis_healthz

log = logging.getLogger("strangler.extracted.catalog")

ENGINE = web.AppKey("catalog_engine", Engine)
UNIT_OF_WORK: web.AppKey[Callable[[], UnitOfWork]] = web.AppKey("catalog_unit_of_work")


def _domain_error(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """The catalog's shape ``{"error": {"code", "message", "details"}}`` for its errors."""
    if isinstance(exc, InvalidParameter):
        details = {"parameter": exc.parameter}
        return 400, error_json("invalid_parameter", exc.message, details)
    if isinstance(exc, InvalidProduct):
        return 422, error_json("invalid_product", exc.message, {"field": exc.field})
    if isinstance(exc, ProductNotFound):
        return 404, error_json("product_not_found", exc.message, {"sku": exc.sku})
    return None


error_shape = error_middleware(domain_error=_domain_error, error_json=error_json, log=log)
healthz = chassis_healthz(ENGINE, error_json=error_json, log=log)


def _positive_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.isascii() and raw.isdigit() and int(raw) >= 1:
        return int(raw)
    raise InvalidParameter(f"{name} must be a positive integer", parameter=name)


def _query(request: web.Request) -> ProductQuery:
    number = _positive_int(request, "page", 1)
    size = min(_positive_int(request, "page_size", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    currency: Currency | None = None
    if (raw := request.query.get("currency")) is not None:
        try:
            currency = Currency(raw)
        except ValueError:
            allowed = ", ".join(c.value for c in Currency)
            raise InvalidParameter(
                f"currency must be one of {allowed}", parameter="currency"
            ) from None
    name_contains = request.query.get("name_contains") or None
    return ProductQuery(number=number, size=size, name_contains=name_contains, currency=currency)


async def list_products(request: web.Request) -> web.Response:
    query = _query(request)
    page = await asyncio.to_thread(services.products_list, request.app[UNIT_OF_WORK](), query)
    return json_response(200, page_to_json(page))


async def get_product(request: web.Request) -> web.Response:
    sku = request.match_info["sku"]
    product = await asyncio.to_thread(services.product_get, request.app[UNIT_OF_WORK](), sku)
    return json_response(200, product_to_json(product))


async def put_product(request: web.Request) -> web.Response:
    sku = request.match_info["sku"]
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidProduct(f"the body is not JSON: {exc}", field="body") from exc
    command = upsert_from_json(body, sku=sku)
    result = await asyncio.to_thread(services.product_upsert, request.app[UNIT_OF_WORK](), command)
    response = json_response(201 if result.created else 200, product_to_json(result.product))
    if result.created:
        response.headers["Location"] = f"/v1/products/{sku}"
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/products", list_products)
    app.router.add_get("/v1/products/{sku}", get_product)
    app.router.add_put("/v1/products/{sku}", put_product)
