"""The inventory.stock translator, each direction, and the errors that name their field."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from acl.errors import TranslationError
from acl.http import HttpRequestData, HttpResponseData
from acl.inventory import (
    Shortage,
    Stock,
    StockLevel,
    cancel_request,
    fulfil_outcome,
    fulfil_request,
    release_outcome,
    reserve_outcome,
    reserve_request,
    stock_from_legacy,
    stock_from_service,
    stock_to_legacy,
    stock_to_service,
)

TRANSLATOR = Stock(new_key=lambda: "generated-key")
LEVEL = StockLevel("SKU-00001", 12, 2)
SERVICE_LEVEL = {
    "sku": "SKU-00001",
    "on_hand": 12,
    "reserved": 2,
    "available": 10,
    "updated_at": "2026-11-25T09:30:00Z",
}


def answer(status: int, body: object) -> HttpResponseData:
    return HttpResponseData(
        status, (("Content-Type", "application/json"),), json.dumps(body).encode()
    )


def reservation(quantity: int = 3, status: str = "held") -> dict[str, object]:
    return {
        "reservation": {
            "idempotency_key": "k",
            "sku": "SKU-00001",
            "quantity": quantity,
            "status": status,
            "created_at": "2026-11-25T09:30:00Z",
            "updated_at": "2026-11-25T09:30:00Z",
        },
        "stock": {**SERVICE_LEVEL, "reserved": 5, "available": 7},
    }


def shortage(requested: int = 30, available: int = 10) -> dict[str, object]:
    details = {"sku": "SKU-00001", "requested": requested, "available": available}
    return {"error": {"code": "insufficient_stock", "message": "...", "details": details}}


NOT_FOUND = {"error": {"code": "stock_not_found", "message": "...", "details": {"sku": "X"}}}


def legacy(
    path: str, *, method: str = "GET", body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
) -> HttpRequestData:
    return HttpRequestData(method, path, (), headers, body)


def test_stock_levels_in_each_model() -> None:
    assert stock_to_legacy(LEVEL) == {
        "sku_item": "SKU-00001",
        "qty_on_hand": 12,
        "qty_reserved": 2,
        "qty_avail": 10,
    }
    assert stock_from_legacy(stock_to_legacy(LEVEL)) == LEVEL
    assert stock_from_service(SERVICE_LEVEL) == LEVEL
    assert stock_to_service(LEVEL) == {k: v for k, v in SERVICE_LEVEL.items() if k != "updated_at"}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({**SERVICE_LEVEL, "available": 9}, "$.available"),
        ({**SERVICE_LEVEL, "reserved": 13, "available": -1}, "$.available"),
        ({**SERVICE_LEVEL, "on_hand": "12"}, "$.on_hand"),
        ({**SERVICE_LEVEL, "on_hand": True}, "$.on_hand"),
        ({**SERVICE_LEVEL, "reserved": -1}, "$.reserved"),
        ({k: v for k, v in SERVICE_LEVEL.items() if k != "sku"}, "$.sku"),
    ],
)
def test_an_impossible_service_level_names_its_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(TranslationError) as caught:
        stock_from_service(raw)
    assert caught.value.field == field


def test_a_stock_read_becomes_the_service_read() -> None:
    wanted = TRANSLATOR.request_to_service(
        legacy("/api/inventory/SKU-00001", headers=(("X-Request-Id", "r1"),))
    )
    assert (wanted.method, wanted.path, wanted.body) == ("GET", "/v1/stock/SKU-00001", b"")
    assert wanted.header("X-Request-Id") == "r1"


def test_a_reservation_carries_the_quantity_and_a_key() -> None:
    wanted = TRANSLATOR.request_to_service(
        legacy("/api/inventory/SKU-00001/reserve", method="POST", body=b'{"qty": 3}')
    )
    assert (wanted.method, wanted.path) == ("POST", "/v1/stock/SKU-00001/reservations")
    assert json.loads(wanted.body) == {"quantity": 3, "idempotency_key": "generated-key"}


def test_the_client_idempotency_key_is_passed_on() -> None:
    wanted = TRANSLATOR.request_to_service(
        legacy(
            "/api/inventory/SKU-00001/reserve",
            method="POST",
            body=b'{"qty": 3}',
            headers=(("Idempotency-Key", "client-7"),),
        )
    )
    assert json.loads(wanted.body)["idempotency_key"] == "client-7"


def test_a_body_the_monolith_refuses_is_only_a_read_of_the_stock() -> None:
    req = legacy("/api/inventory/SKU-00001/reserve", method="POST", body=b'{"qty": 0}')
    wanted = TRANSLATOR.request_to_service(req)
    assert (wanted.method, wanted.path) == ("GET", "/v1/stock/SKU-00001")
    # the sku exists: the legacy 400; it does not: the legacy 404 (the monolith checks it first)
    bad = TRANSLATOR.response_to_legacy(req, answer(200, SERVICE_LEVEL))
    assert (bad.status, json.loads(bad.body)) == (
        400,
        {"result": "error", "errCode": "E400", "errMsg": "qty must be >= 1"},
    )
    missing = TRANSLATOR.response_to_legacy(req, answer(404, NOT_FOUND))
    assert missing.status == 404


def test_answers_in_the_legacy_shape() -> None:
    read = TRANSLATOR.response_to_legacy(
        legacy("/api/inventory/SKU-00001"), answer(200, SERVICE_LEVEL)
    )
    assert read.status == 200
    assert read.body == (
        b'{"result": "ok", "sku_item": "SKU-00001", "qty_on_hand": 12, "qty_reserved": 2, '
        b'"qty_avail": 10}'
    )
    assert read.header("X-Legacy-Version") == "1"
    req = legacy("/api/inventory/SKU-00001/reserve", method="POST", body=b'{"qty": 3}')
    held = TRANSLATOR.response_to_legacy(req, answer(201, reservation()))
    assert (held.status, json.loads(held.body)["qty_avail"]) == (200, 7)
    refused = TRANSLATOR.response_to_legacy(
        legacy("/api/inventory/SKU-00001/reserve", method="POST", body=b'{"qty": 30}'),
        answer(409, shortage()),
    )
    assert (refused.status, json.loads(refused.body)) == (
        409,
        {
            "result": "error",
            "errCode": "E409",
            "errMsg": "insufficient stock for SKU-00001: requested 30, available 10",
        },
    )
    missing = TRANSLATOR.response_to_legacy(
        legacy("/api/inventory/SKU%2D9"), answer(404, NOT_FOUND)
    )
    assert json.loads(missing.body)["errMsg"] == "product SKU-9 not found"


RESERVE = "/api/inventory/SKU-00001/reserve"
CANCELLED = {"error": {"code": "reservation_cancelled"}}


@pytest.mark.parametrize(
    ("path", "body", "status", "service_body", "field"),
    [
        ("/api/inventory/SKU-00001", b"", 500, {}, "status"),
        ("/api/inventory/SKU-00001", b"", 200, {**SERVICE_LEVEL, "sku": "SKU-2"}, "$.sku"),
        ("/api/inventory/SKU-00001", b"", 404, {"error": {"code": "nope"}}, "$.error.code"),
        ("/api/inventory/SKU-00001", b"", 418, {}, "status"),
        (RESERVE, b'{"qty": 3}', 201, reservation(4), "$.reservation.quantity"),
        (RESERVE, b'{"qty": 3}', 201, reservation(3, "cancelled"), "$.reservation.status"),
        (RESERVE, b'{"qty": 30}', 409, shortage(31), "$.error.details.requested"),
        (RESERVE, b'{"qty": 30}', 409, CANCELLED, "$.error.code"),
        (RESERVE, b'{"qty": 3}', 422, {"error": {"code": "invalid_request"}}, "status"),
    ],
)
def test_an_untranslatable_answer_names_the_field(
    path: str, body: bytes, status: int, service_body: object, field: str
) -> None:
    req = legacy(path, method="POST" if body else "GET", body=body)
    with pytest.raises(TranslationError) as caught:
        TRANSLATOR.response_to_legacy(req, answer(status, service_body))
    assert caught.value.field == field


def test_a_body_that_is_not_json_is_untranslatable() -> None:
    with pytest.raises(TranslationError) as caught:
        TRANSLATOR.response_to_legacy(
            legacy("/api/inventory/SKU-00001"), HttpResponseData(200, (), b"<html>")
        )
    assert caught.value.field == "$"


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/api/products/SKU-1", "path"),
        ("GET", "/api/inventory/", "path"),
        ("GET", "/api/inventory/a/b", "path"),
        ("DELETE", "/api/inventory/SKU-1", "method"),
        ("GET", "/api/inventory/SKU-1/reserve", "method"),
    ],
)
def test_requests_outside_the_legacy_api_are_untranslatable(
    method: str, path: str, field: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        TRANSLATOR.request_to_service(legacy(path, method=method))
    assert caught.value.field == field


def test_seam_helpers_speak_the_same_translation() -> None:
    req = reserve_request("SKU/1", 2, key="k-1")
    assert req.path == "/v1/stock/SKU%2F1/reservations"
    assert reserve_outcome("SKU-00001", 3, answer(201, reservation())) == StockLevel(
        "SKU-00001", 12, 5
    )
    assert reserve_outcome("SKU-00001", 30, answer(409, shortage())) == Shortage(
        "SKU-00001", 30, 10
    )
    assert reserve_outcome("SKU-00001", 3, answer(404, NOT_FOUND)) is None
    assert cancel_request("SKU-1", key="k 1").path == "/v1/stock/SKU-1/reservations/k%201"
    with pytest.raises(TranslationError) as caught:
        reserve_request("SKU-1", 1, key="has space")
    assert caught.value.field == "idempotency_key"


def settled(status: str, quantity: int) -> dict[str, object]:
    return reservation(quantity, status)


def test_cancellation_and_fulfilment_answers_in_legacy_terms() -> None:
    level = StockLevel("SKU-00001", 12, 5)
    assert release_outcome("SKU-00001", 3, answer(200, settled("cancelled", 3))) == level
    # quantity 0: the service never held units under that key (reserved before the switch)
    assert release_outcome("SKU-00001", 3, answer(200, settled("cancelled", 0))) is None
    assert fulfil_outcome("SKU-00001", 3, answer(200, settled("fulfilled", 3))) == level
    not_held = {"error": {"code": "reservation_not_found", "message": "..."}}
    assert fulfil_outcome("SKU-00001", 3, answer(404, not_held)) is None
    assert fulfil_request("SKU-1", key="k").path == "/v1/stock/SKU-1/reservations/k/fulfilment"


@pytest.mark.parametrize(
    ("outcome", "status", "body", "field"),
    [
        (release_outcome, 200, settled("held", 3), "$.reservation.status"),
        (release_outcome, 200, settled("cancelled", 2), "$.reservation.quantity"),
        (release_outcome, 409, {"error": {"code": "reservation_fulfilled"}}, "status"),
        (fulfil_outcome, 200, settled("cancelled", 3), "$.reservation.status"),
        (fulfil_outcome, 404, NOT_FOUND, "$.error.code"),
        (fulfil_outcome, 409, {"error": {"code": "reservation_cancelled"}}, "status"),
    ],
)
def test_unexpected_settlements_name_the_field(
    outcome: Callable[[str, int, HttpResponseData], object],
    status: int,
    body: object,
    field: str,
) -> None:
    with pytest.raises(TranslationError) as caught:
        outcome("SKU-00001", 3, answer(status, body))
    assert caught.value.field == field
