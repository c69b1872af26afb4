"""The ``catalog.products`` translator: legacy ``/api/products`` <-> catalog service ``/v1``.

Legacy product (the monolith's ``legacy_json.product_to_legacy``)::

    {"sku_item", "prodName", "unitPrice" (minor units), "curr", "qty_on_hand",
     "is_active": "Y"|"N", "last_upd": "DD/MM/YYYY" (Europe/Paris date of updated_at)}

Service product::

    {"sku", "name", "price": {"amount": "19.99", "currency"}, "stock": {"on_hand"},
     "status": "active"|"inactive", "updated_at": "2026-11-25T09:30:00Z"}

Both meet in ``Product``. ``last_upd`` keeps only a local date, so ``product_from_legacy``
gives the instant of local midnight (Europe/Paris) of that date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Final
from urllib.parse import unquote
from zoneinfo import ZoneInfo

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

PARIS: Final = ZoneInfo("Europe/Paris")
LEGACY_DATE_FORMAT: Final = "%d/%m/%Y"
LEGACY_TIMESTAMP_FORMAT: Final = "%d/%m/%Y %H:%M:%S.%f"

# ISO 4217 minor units of the currencies the shop may hold; an unknown one cannot be priced.
MINOR_UNITS: Final[Mapping[str, int]] = {
    **dict.fromkeys(
        ("EUR", "GBP", "USD", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN", "CZK"), 2
    ),
    **dict.fromkeys(("HUF", "RON", "BGN", "MXN", "BRL", "CNY", "HKD", "SGD", "INR", "ZAR"), 2),
    **dict.fromkeys(("JPY", "KRW", "ISK", "CLP", "VND", "XOF", "XAF"), 0),
    **dict.fromkeys(("BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"), 3),
}

_LEGACY_PRODUCTS = "/api/products"
_SERVICE_PRODUCTS = "/v1/products"
_LEGACY_DATE_RE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
_UTC_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|\+00:00)$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_STATUSES: Final[Mapping[str, bool]] = {"active": True, "inactive": False}
_FLAGS: Final[Mapping[str, bool]] = {"Y": True, "N": False}
# Legacy query parameter -> service query parameter.
_LIST_PARAMS: Final[Mapping[str, str]] = {
    "page": "page",
    "per_page": "page_size",
    "q": "name_contains",
    "curr": "currency",
}
_LEGACY_PARAM: Final[Mapping[str, str]] = {v: k for k, v in _LIST_PARAMS.items()}


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price_minor: int
    currency: str
    on_hand: int
    active: bool
    updated_at: datetime  # aware

    def __post_init__(self) -> None:
        if self.updated_at.utcoffset() is None:
            raise ValueError(f"updated_at must be timezone-aware, got {self.updated_at!r}")


# -- money ---------------------------------------------------------------------------------


def minor_units(currency: str, *, field: str = "currency") -> int:
    """Digits after the decimal point for ``currency`` (2 for EUR), or TranslationError."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise TranslationError(field=field, value=currency, reason="unknown currency") from None


def amount_to_minor(amount: str, currency: str, *, field: str = "amount") -> int:
    """``"19.99"`` EUR -> 1999: exactly the currency's minor digits, never negative."""
    digits = minor_units(currency)
    pattern = r"^(?:0|[1-9]\d*)" + (rf"\.\d{{{digits}}}$" if digits else "$")
    if not re.match(pattern, amount):
        reason = f"not a non-negative amount with exactly {digits} decimals for {currency}"
        raise TranslationError(field=field, value=amount, reason=reason)
    return int(Decimal(amount).scaleb(digits))


def minor_to_amount(minor: int, currency: str, *, field: str = "amount") -> str:
    """1999 EUR -> ``"19.99"``; Decimal throughout, never float."""
    digits = minor_units(currency)
    if minor < 0:
        raise TranslationError(field=field, value=minor, reason="negative price")
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


# -- dates ---------------------------------------------------------------------------------


def legacy_date(moment: datetime) -> str:
    """The legacy ``last_upd``: the Europe/Paris calendar date of an instant."""
    return moment.astimezone(PARIS).strftime(LEGACY_DATE_FORMAT)


def moment_from_legacy_date(text: str, *, field: str = "last_upd") -> datetime:
    """``DD/MM/YYYY`` -> the UTC instant of local midnight (Europe/Paris) that day.

    Paris changes clocks at 02:00/03:00, so local midnight always exists, exactly once.
    """
    if not _LEGACY_DATE_RE.match(text):
        raise TranslationError(field=field, value=text, reason="not a DD/MM/YYYY date")
    try:
        day = datetime.strptime(text, LEGACY_DATE_FORMAT).date()
    except ValueError:
        raise TranslationError(field=field, value=text, reason="not a calendar date") from None
    return local_midnight(day)


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PARIS).astimezone(UTC)


def parse_utc_timestamp(text: str, *, field: str = "updated_at") -> datetime:
    """``2026-11-25T09:30:00Z`` (optionally with up to 6 fraction digits) -> aware UTC."""
    if not _UTC_TIMESTAMP_RE.match(text):
        raise TranslationError(field=field, value=text, reason="not an ISO 8601 UTC timestamp")
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        raise TranslationError(field=field, value=text, reason="not a valid timestamp") from None


def format_utc_timestamp(moment: datetime) -> str:
    """Aware instant -> ``2026-11-25T09:30:00Z`` (microseconds only when there are some)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- JSON readers that name the path of what they reject -----------------------------------


def _choice(obj: Mapping[str, object], key: str, at: str, choices: Mapping[str, bool]) -> bool:
    value = str_field(obj, key, at)
    if value not in choices:
        reason = "not one of " + ", ".join(repr(c) for c in choices)
        raise TranslationError(field=f"{at}.{key}", value=value, reason=reason)
    return choices[value]


def _currency(obj: Mapping[str, object], key: str, at: str) -> str:
    value = str_field(obj, key, at)
    if not _CURRENCY_RE.match(value):
        raise TranslationError(field=f"{at}.{key}", value=value, reason="not a currency code")
    minor_units(value, field=f"{at}.{key}")
    return value


# -- the product pairs ---------------------------------------------------------------------


def product_from_legacy(raw: Mapping[str, object], *, at: str = "$") -> Product:
    currency = _currency(raw, "curr", at)
    return Product(
        sku=str_field(raw, "sku_item", at),
        name=str_field(raw, "prodName", at),
        price_minor=int_field(raw, "unitPrice", at, minimum=0),
        currency=currency,
        on_hand=int_field(raw, "qty_on_hand", at),
        active=_choice(raw, "is_active", at, _FLAGS),
        updated_at=moment_from_legacy_date(str_field(raw, "last_upd", at), field=f"{at}.last_upd"),
    )


def product_to_legacy(product: Product) -> dict[str, object]:
    """The monolith's product, keys in its order."""
    return {
        "sku_item": product.sku,
        "prodName": product.name,
        "unitPrice": product.price_minor,
        "curr": product.currency,
        "qty_on_hand": product.on_hand,
        "is_active": "Y" if product.active else "N",
        "last_upd": legacy_date(product.updated_at),
    }


def product_from_service(raw: Mapping[str, object], *, at: str = "$") -> Product:
    price = as_object(get_field(raw, "price", at), f"{at}.price")
    stock = as_object(get_field(raw, "stock", at), f"{at}.stock")
    currency = _currency(price, "currency", f"{at}.price")
    amount_at = f"{at}.price.amount"
    return Product(
        sku=str_field(raw, "sku", at),
        name=str_field(raw, "name", at),
        price_minor=amount_to_minor(
            str_field(price, "amount", f"{at}.price"), currency, field=amount_at
        ),
        currency=currency,
        on_hand=int_field(stock, "on_hand", f"{at}.stock"),
        active=_choice(raw, "status", at, _STATUSES),
        updated_at=parse_utc_timestamp(str_field(raw, "updated_at", at), field=f"{at}.updated_at"),
    )


def product_to_service(product: Product) -> dict[str, object]:
    minor_units(product.currency, field="$.price.currency")
    return {
        "sku": product.sku,
        "name": product.name,
        "price": {
            "amount": minor_to_amount(
                product.price_minor, product.currency, field="$.price.amount"
            ),
            "currency": product.currency,
        },
        "stock": {"on_hand": product.on_hand},
        "status": "active" if product.active else "inactive",
        "updated_at": format_utc_timestamp(product.updated_at),
    }


# -- the HTTP translator -------------------------------------------------------------------


def _detail_sku(path: str) -> str | None:
    """The raw (still percent-encoded) sku segment of ``/api/products/<sku>``, if it is one."""
    prefix = _LEGACY_PRODUCTS + "/"
    if path.startswith(prefix):
        segment = path[len(prefix) :]
        if segment and "/" not in segment:
            return segment
    return None


def _legacy_int_problem(raw: str | None) -> str | None:
    """The monolith's ``query_int`` complaint about ``raw``, or None if it accepts it."""
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        return "must be an integer"
    return "must be >= 1" if value < 1 else None


def _now_in_paris() -> datetime:
    return datetime.now(PARIS)


class Products:
    """``translator: catalog.products``: product list and detail reads.

    ``clock`` gives the legacy ``generated_at`` (the monolith's build time of the page).
    """

    def __init__(self, *, clock: Callable[[], datetime] = _now_in_paris) -> None:
        self._clock = clock

    def request_to_service(self, req: HttpRequestData, /) -> HttpRequestData:
        if req.method.upper() != "GET":
            raise TranslationError(field="method", value=req.method, reason="only GET translates")
        headers: Pairs = (("Accept", "application/json"),)
        request_id = req.header("X-Request-Id")
        if request_id is not None:
            headers += (("X-Request-Id", request_id),)
        if req.path == _LEGACY_PRODUCTS:
            return HttpRequestData("GET", _SERVICE_PRODUCTS, self._list_query(req), headers)
        sku = _detail_sku(req.path)
        if sku is None:
            raise TranslationError(field="path", value=req.path, reason="not a product route")
        # the legacy view ignores any query string on a detail read
        return HttpRequestData("GET", f"{_SERVICE_PRODUCTS}/{sku}", (), headers)

    @staticmethod
    def _list_query(req: HttpRequestData) -> Pairs:
        query: Pairs = ()
        for legacy_name, service_name in _LIST_PARAMS.items():
            value = req.query_value(legacy_name)  # the last one wins, as in Django
            if value is None:
                continue
            if legacy_name in ("q", "curr"):
                value = value.strip()
            if legacy_name == "curr":
                value = value.upper()  # the monolith filters on currency.upper()
            if value:  # an empty value means the monolith's default
                query += ((service_name, value),)
        return query

    def response_to_legacy(
        self, legacy_req: HttpRequestData, service_resp: HttpResponseData, /
    ) -> HttpResponseData:
        status = service_resp.status
        if status >= 500:
            raise TranslationError(field="status", value=status, reason="service failed")
        sku = _detail_sku(legacy_req.path)
        if sku is None and legacy_req.path != _LEGACY_PRODUCTS:
            raise TranslationError(
                field="path", value=legacy_req.path, reason="not a product route"
            )
        body = json_object(service_resp.body)
        if status == 200:
            if sku is None:
                return legacy_json(200, self._list_to_legacy(body))
            return legacy_json(200, self._detail_to_legacy(body, unquote(sku)))
        if status == 404 and sku is not None:
            self._error(body, "product_not_found")
            return legacy_error(404, f"product {unquote(sku)} not found")
        if status == 400:
            return legacy_error(400, self._bad_parameter_message(legacy_req, body))
        raise TranslationError(field="status", value=status, reason="no legacy answer for it")

    def _list_to_legacy(self, body: Mapping[str, object]) -> dict[str, object]:
        items = get_field(body, "items", "$")
        if not isinstance(items, list):
            raise TranslationError(field="$.items", value=items, reason="not a JSON array")
        products = [
            product_to_legacy(
                product_from_service(as_object(item, f"$.items[{i}]"), at=f"$.items[{i}]")
            )
            for i, item in enumerate(items)
        ]
        page = as_object(get_field(body, "page", "$"), "$.page")
        return {
            "result": "ok",
            "count": int_field(page, "total_items", "$.page", minimum=0),
            "page": int_field(page, "number", "$.page", minimum=1),
            "per_page": int_field(page, "size", "$.page", minimum=1),
            "products": products,
            "generated_at": self._clock().astimezone(PARIS).strftime(LEGACY_TIMESTAMP_FORMAT),
        }

    @staticmethod
    def _detail_to_legacy(body: Mapping[str, object], sku: str) -> dict[str, object]:
        product = product_from_service(body)
        if product.sku != sku:
            raise TranslationError(field="$.sku", value=product.sku, reason=f"asked for {sku!r}")
        return {"result": "ok", "product": product_to_legacy(product)}

    @staticmethod
    def _error(body: Mapping[str, object], expected_code: str) -> Mapping[str, object]:
        error = as_object(get_field(body, "error", "$"), "$.error")
        code = str_field(error, "code", "$.error")
        if code != expected_code:
            raise TranslationError(field="$.error.code", value=code, reason=f"not {expected_code}")
        return error

    @classmethod
    def _bad_parameter_message(cls, legacy_req: HttpRequestData, body: Mapping[str, object]) -> str:
        error = cls._error(body, "invalid_parameter")
        details = as_object(get_field(error, "details", "$.error"), "$.error.details")
        parameter = str_field(details, "parameter", "$.error.details")
        legacy_name = _LEGACY_PARAM.get(parameter)
        if legacy_name in ("page", "per_page"):
            problem = _legacy_int_problem(legacy_req.query_value(legacy_name))
            if problem is None:
                # the monolith would have answered 200: let the facade's fallback ask it
                reason = f"the monolith accepts this {legacy_name}"
                raise TranslationError(
                    field="$.error.details.parameter", value=parameter, reason=reason
                )
            return f"query parameter {legacy_name} {problem}"
        # the monolith never rejects this parameter, so it has no wording for it
        return str_field(error, "message", "$.error")
