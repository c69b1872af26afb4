"""The ``inventory.stock`` translator: legacy ``/api/inventory`` <-> inventory service ``/v1``.

Legacy (the monolith's ``catalog.legacy_json.inventory_to_legacy``)::

    GET  /api/inventory/<sku>           {"result": "ok", "sku_item", "qty_on_hand",
    POST /api/inventory/<sku>/reserve    "qty_reserved", "qty_avail"}
         body {"qty": 2}                errors {"result": "error", "errCode": "E404", "errMsg"}

Service::

    GET  /v1/stock/<sku>                {"sku", "on_hand", "reserved", "available", "updated_at"}
    POST /v1/stock/<sku>/reservations   {"reservation": {...}, "stock": {...}}
         body {"quantity": 2, "idempotency_key": "..."}
    errors {"error": {"code": "stock_not_found" | "insufficient_stock" | ..., "message",
                      "details"}}

Both meet in ``StockLevel``. The monolith checks a reservation in this order: unknown sku (404),
then the body (400), then the stock (409). A body the monolith would reject is therefore sent
to the service as a read of the stock level: its 404 or 200 says which legacy error applies,
and nothing can be reserved by a request the monolith would have refused.

The ``*_request`` and ``*_outcome`` functions (reserve, cancel/release, fulfil) are the same
translation for callers that are not HTTP clients: the monolith's inventory seam.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote

from acl.errors import TranslationError
from acl.http import HttpRequestData, HttpResponseData, Pairs
from acl.json_io import (
    as_object,
    get_field,
    int_field,
    json_object,
    legacy_error,
    legacy_json,
    str_field,
)

_LEGACY_PREFIX = "/api/inventory/"
_RESERVE_SUFFIX = "/reserve"
_SERVICE_STOCK = "/v1/stock"
# What the monolith sends with every /api/ answer (JsonResponse + LegacyVersionHeaderMiddleware).
_JSON_HEADERS: Final[Pairs] = (("Accept", "application/json"),)
# the service's idempotency keys: 1-128 printable ASCII characters, no spaces
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


@dataclass(frozen=True, slots=True)
class StockLevel:
    """Units of one sku: on the shelf (reserved ones included) and promised to open orders."""

    sku: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class Shortage:
    """A reservation refused for want of stock: nothing was reserved."""

    sku: str
    requested: int
    available: int

    def legacy_message(self) -> str:
        """The monolith's ``Conflict`` text for it, word for word."""
        return (
            f"insufficient stock for {self.sku}: requested {self.requested}, "
            f"available {self.available}"
        )


# -- JSON readers that name the path of what they reject -----------------------------------


def _count(obj: Mapping[str, object], key: str, at: str, *, minimum: int = 0) -> int:
    return int_field(obj, key, at, minimum=minimum)


def _consistent(level: StockLevel, raw: Mapping[str, object], key: str, at: str) -> StockLevel:
    if level.reserved > level.on_hand:
        raise TranslationError(
            field=f"{at}.{key}", value=raw.get(key), reason="more reserved than on hand"
        )
    stated = _count(raw, key, at, minimum=0)
    if stated != level.available:
        reason = f"not on hand minus reserved ({level.available})"
        raise TranslationError(field=f"{at}.{key}", value=stated, reason=reason)
    return level


# -- the stock pairs -----------------------------------------------------------------------


def stock_from_legacy(raw: Mapping[str, object], *, at: str = "$") -> StockLevel:
    level = StockLevel(
        sku=str_field(raw, "sku_item", at),
        on_hand=_count(raw, "qty_on_hand", at),
        reserved=_count(raw, "qty_reserved", at),
    )
    return _consistent(level, raw, "qty_avail", at)


def stock_to_legacy(level: StockLevel) -> dict[str, object]:
    """The monolith's inventory fields, keys in its order."""
    return {
        "sku_item": level.sku,
        "qty_on_hand": level.on_hand,
        "qty_reserved": level.reserved,
        "qty_avail": level.available,
    }


def stock_from_service(raw: Mapping[str, object], *, at: str = "$") -> StockLevel:
    level = StockLevel(
        sku=str_field(raw, "sku", at),
        on_hand=_count(raw, "on_hand", at),
        reserved=_count(raw, "reserved", at),
    )
    return _consistent(level, raw, "available", at)


def stock_to_service(level: StockLevel) -> dict[str, object]:
    """The service's stock level without ``updated_at`` (which the service sets): the body of
    ``PUT /v1/stock/<sku>`` and of a ``--seed-from-json`` item."""
    return {
        "sku": level.sku,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
    }


# -- the legacy request's own rules --------------------------------------------------------


def legacy_reserve_problem(body: bytes) -> str | None:
    """What the monolith answers (400) to this reservation body, or None if it accepts it.

    Mirrors ``shop.legacy_api.parse_json_object`` and ``shop.payload.read_int(data, "qty",
    minimum=1)`` message for message.
    """
    if not body.strip():
        return "request body must be a JSON object"
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return "request body is not valid JSON"
    if not isinstance(data, dict):
        return "request body must be a JSON object"
    if "qty" not in data:
        return "qty is required"
    qty = data["qty"]
    if isinstance(qty, bool) or not isinstance(qty, int):
        return "qty must be an integer"
    if qty < 1:
        return "qty must be >= 1"
    return None


def legacy_quantity(body: bytes) -> int:
    """The ``qty`` of a reservation body the monolith accepts (check the problem first)."""
    problem = legacy_reserve_problem(body)
    if problem is not None:
        raise TranslationError(field="$.qty", value=body[:80], reason=problem)
    qty: int = json.loads(body)["qty"]
    return qty


# -- service requests and answers, for any caller ------------------------------------------


def _service_path(sku: str, *rest: str) -> str:
    return "/".join((_SERVICE_STOCK, quote(sku, safe=""), *rest))


def stock_request(sku: str, *, headers: Pairs = ()) -> HttpRequestData:
    return HttpRequestData("GET", _service_path(sku), (), _JSON_HEADERS + headers)


def reserve_request(sku: str, quantity: int, *, key: str, headers: Pairs = ()) -> HttpRequestData:
    """The service's reservation of ``quantity`` units of ``sku`` under idempotency ``key``."""
    if not _KEY_RE.match(key):
        raise TranslationError(
            field="idempotency_key", value=key, reason="not 1-128 printable ASCII characters"
        )
    body = json.dumps({"quantity": quantity, "idempotency_key": key}).encode()
    return HttpRequestData(
        "POST",
        _service_path(sku, "reservations"),
        (),
        (*_JSON_HEADERS, ("Content-Type", "application/json"), *headers),
        body,
    )


def cancel_request(sku: str, *, key: str) -> HttpRequestData:
    """The service's cancellation of the reservation ``key`` (a compensation)."""
    return HttpRequestData(
        "DELETE", _service_path(sku, "reservations", quote(key, safe="")), (), _JSON_HEADERS
    )


def fulfil_request(sku: str, *, key: str) -> HttpRequestData:
    """The service's fulfilment of the reservation ``key``: its units shipped."""
    return HttpRequestData(
        "POST",
        _service_path(sku, "reservations", quote(key, safe=""), "fulfilment"),
        (),
        _JSON_HEADERS,
    )


def _error_code(body: Mapping[str, object]) -> tuple[str, Mapping[str, object]]:
    error = as_object(get_field(body, "error", "$"), "$.error")
    return str_field(error, "code", "$.error"), error


def not_found(resp: HttpResponseData) -> bool:
    """True when the service says it holds no stock level for the sku (its 404)."""
    if resp.status != 404:
        return False
    code, _ = _error_code(json_object(resp.body))
    if code != "stock_not_found":
        raise TranslationError(field="$.error.code", value=code, reason="not stock_not_found")
    return True


def stock_outcome(sku: str, resp: HttpResponseData) -> StockLevel | None:
    """The stock level in a ``GET /v1/stock/<sku>`` answer; None when the sku is unknown."""
    if resp.status >= 500:
        raise TranslationError(field="status", value=resp.status, reason="service failed")
    if not_found(resp):
        return None
    if resp.status != 200:
        raise TranslationError(field="status", value=resp.status, reason="no legacy answer for it")
    level = stock_from_service(json_object(resp.body))
    if level.sku != sku:
        raise TranslationError(field="$.sku", value=level.sku, reason=f"asked for {sku!r}")
    return level


def reserve_outcome(
    sku: str, quantity: int, resp: HttpResponseData
) -> StockLevel | Shortage | None:
    """What a reservation answer means in legacy terms: the stock level after it, a
    ``Shortage`` (nothing reserved), or None when the sku is unknown."""
    if resp.status >= 500:
        raise TranslationError(field="status", value=resp.status, reason="service failed")
    if not_found(resp):
        return None
    body = json_object(resp.body)
    if resp.status in (200, 201):
        reservation = as_object(get_field(body, "reservation", "$"), "$.reservation")
        status = str_field(reservation, "status", "$.reservation")
        if status != "held":
            raise TranslationError(field="$.reservation.status", value=status, reason="not held")
        held = _count(reservation, "quantity", "$.reservation", minimum=1)
        if held != quantity:
            reason = f"asked for {quantity}"
            raise TranslationError(field="$.reservation.quantity", value=held, reason=reason)
        level = stock_from_service(
            as_object(get_field(body, "stock", "$"), "$.stock"), at="$.stock"
        )
        if level.sku != sku:
            raise TranslationError(
                field="$.stock.sku", value=level.sku, reason=f"asked for {sku!r}"
            )
        return level
    if resp.status == 409:
        code, error = _error_code(body)
        if code != "insufficient_stock":
            raise TranslationError(
                field="$.error.code", value=code, reason="no legacy answer for it"
            )
        details = as_object(get_field(error, "details", "$.error"), "$.error.details")
        requested = _count(details, "requested", "$.error.details", minimum=1)
        if requested != quantity:
            reason = f"asked for {quantity}"
            raise TranslationError(
                field="$.error.details.requested", value=requested, reason=reason
            )
        return Shortage(sku, requested, _count(details, "available", "$.error.details"))
    raise TranslationError(field="status", value=resp.status, reason="no legacy answer for it")


def _settled(sku: str, resp: HttpResponseData, *, status: str) -> tuple[int, StockLevel]:
    """(quantity, stock level) of a 200 answer about a reservation now in ``status``."""
    body = json_object(resp.body)
    reservation = as_object(get_field(body, "reservation", "$"), "$.reservation")
    found = str_field(reservation, "status", "$.reservation")
    if found != status:
        raise TranslationError(field="$.reservation.status", value=found, reason=f"not {status}")
    quantity = _count(reservation, "quantity", "$.reservation")
    level = stock_from_service(as_object(get_field(body, "stock", "$"), "$.stock"), at="$.stock")
    if level.sku != sku:
        raise TranslationError(field="$.stock.sku", value=level.sku, reason=f"asked for {sku!r}")
    return quantity, level


def release_outcome(sku: str, quantity: int, resp: HttpResponseData) -> StockLevel | None:
    """The stock level after a cancellation answer; None when the service never held units
    under that key (it recorded the key as cancelled, quantity 0)."""
    if resp.status != 200:
        raise TranslationError(field="status", value=resp.status, reason="no legacy answer for it")
    released, level = _settled(sku, resp, status="cancelled")
    if released == 0:
        return None
    if released != quantity:
        reason = f"asked for {quantity}"
        raise TranslationError(field="$.reservation.quantity", value=released, reason=reason)
    return level


def fulfil_outcome(sku: str, quantity: int, resp: HttpResponseData) -> StockLevel | None:
    """The stock level after a fulfilment answer; None when the service holds no reservation
    under that key (its 404 ``reservation_not_found``)."""
    if resp.status == 404:
        code, _ = _error_code(json_object(resp.body))
        if code != "reservation_not_found":
            raise TranslationError(
                field="$.error.code", value=code, reason="not reservation_not_found"
            )
        return None
    if resp.status != 200:
        raise TranslationError(field="status", value=resp.status, reason="no legacy answer for it")
    shipped, level = _settled(sku, resp, status="fulfilled")
    if shipped != quantity:
        reason = f"asked for {quantity}"
        raise TranslationError(field="$.reservation.quantity", value=shipped, reason=reason)
    return level


# -- the HTTP translator -------------------------------------------------------------------


def _route(path: str) -> tuple[str, str]:
    """("stock" | "reserve", raw sku segment) of a legacy inventory path."""
    if path.startswith(_LEGACY_PREFIX):
        rest = path[len(_LEGACY_PREFIX) :]
        if rest.endswith(_RESERVE_SUFFIX):
            sku = rest[: -len(_RESERVE_SUFFIX)]
            if sku and "/" not in sku:
                return "reserve", sku
        elif rest and "/" not in rest:
            return "stock", rest
    raise TranslationError(field="path", value=path, reason="not an inventory route")


def _new_key() -> str:
    return uuid.uuid4().hex


class Stock:
    """``translator: inventory.stock``: stock reads and reservations.

    A reservation needs an idempotency key in the service's API; the legacy API has none. The
    client's own ``Idempotency-Key`` header is passed on when it has one (so its retries
    reserve once), else ``new_key`` makes a fresh one per request.
    """

    def __init__(self, *, new_key: Callable[[], str] = _new_key) -> None:
        self._new_key = new_key

    def request_to_service(self, req: HttpRequestData, /) -> HttpRequestData:
        kind, raw_sku = _route(req.path)
        sku = unquote(raw_sku)
        headers: Pairs = ()
        request_id = req.header("X-Request-Id")
        if request_id is not None:
            headers = (("X-Request-Id", request_id),)
        method = req.method.upper()
        if kind == "stock":
            if method != "GET":
                raise TranslationError(field="method", value=req.method, reason="only GET reads")
            return stock_request(sku, headers=headers)
        if method != "POST":
            raise TranslationError(field="method", value=req.method, reason="only POST reserves")
        if legacy_reserve_problem(req.body) is not None:
            # the monolith says 404 for an unknown sku before it looks at the body
            return stock_request(sku, headers=headers)
        key = req.header("Idempotency-Key")
        if key is None or not _KEY_RE.match(key):
            key = self._new_key()
        return reserve_request(sku, legacy_quantity(req.body), key=key, headers=headers)

    def response_to_legacy(
        self, legacy_req: HttpRequestData, service_resp: HttpResponseData, /
    ) -> HttpResponseData:
        kind, raw_sku = _route(legacy_req.path)
        sku = unquote(raw_sku)
        missing = legacy_error(404, f"product {sku} not found")
        problem = legacy_reserve_problem(legacy_req.body) if kind == "reserve" else None
        if kind == "stock" or problem is not None:
            level = stock_outcome(sku, service_resp)
            if level is None:
                return missing
            if problem is not None:
                return legacy_error(400, problem)
            return legacy_json(200, {"result": "ok", **stock_to_legacy(level)})
        outcome = reserve_outcome(sku, legacy_quantity(legacy_req.body), service_resp)
        if outcome is None:
            return missing
        if isinstance(outcome, Shortage):
            return legacy_error(409, outcome.legacy_message())
        return legacy_json(200, {"result": "ok", **stock_to_legacy(outcome)})
