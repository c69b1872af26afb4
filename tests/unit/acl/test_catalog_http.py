"""The ``catalog.products`` translator: legacy requests out, service answers back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from acl.catalog import PARIS, Products
from acl.errors import TranslationError
from acl.http import HttpRequestData, HttpResponseData
from tests.unit.acl.test_catalog import LEGACY_OAK_CHAIR, SERVICE_OAK_CHAIR

NOW = datetime(2026, 11, 25, 10, 30, 1, 123456, tzinfo=PARIS)
LEGACY_HEADERS = (("Content-Type", "application/json"), ("X-Legacy-Version", "1"))
ACCEPT = (("Accept", "application/json"),)


@pytest.fixture
def products() -> Products:
    return Products(clock=lambda: NOW)


def legacy_get(path: str, *query: tuple[str, str], **headers: str) -> HttpRequestData:
    return HttpRequestData("GET", path, query=query, headers=tuple(headers.items()))


def service_answer(status: int, body: Any, *headers: tuple[str, str]) -> HttpResponseData:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponseData(status, (("Content-Type", "application/json"), *headers), raw)


def service_list(*items: Any, number: int = 1, size: int = 50, total: int | None = None) -> Any:
    total = len(items) if total is None else total
    return {"items": list(items), "page": {"number": number, "size": size, "total_items": total}}


# -- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "service_query"),
    [
        ((), ()),
        (
            (("page", "2"), ("per_page", "20"), ("q", "chair"), ("curr", "EUR")),
            (("page", "2"), ("page_size", "20"), ("name_contains", "chair"), ("currency", "EUR")),
        ),
        ((("per_page", "500"),), (("page_size", "500"),)),  # the service clamps, as legacy did
        ((("q", "  oak "), ("curr", " gbp")), (("name_contains", "oak"), ("currency", "GBP"))),
        ((("page", ""), ("per_page", ""), ("q", "  "), ("curr", "")), ()),  # legacy defaults
        ((("page", "1"), ("page", "3")), (("page", "3"),)),  # Django: the last value wins
        ((("page", "x"),), (("page", "x"),)),  # the service rejects it, in its own words
        ((("sort", "name"), ("utm_source", "mail")), ()),  # the monolith ignores these
    ],
)
def test_a_list_request_renames_its_parameters(
    products: Products, query: tuple[tuple[str, str], ...], service_query: Any
) -> None:
    assert products.request_to_service(legacy_get("/api/products", *query)) == HttpRequestData(
        "GET", "/v1/products", query=service_query, headers=ACCEPT
    )


@pytest.mark.parametrize(
    ("path", "service_path"),
    [
        ("/api/products/SKU-00001", "/v1/products/SKU-00001"),
        ("/api/products/a%20b", "/v1/products/a%20b"),  # encoding kept as sent
    ],
)
def test_a_detail_request_goes_to_the_service_product(
    products: Products, path: str, service_path: str
) -> None:
    request = legacy_get(path, ("curr", "EUR"), Cookie="sessionid=1", **{"X-Request-Id": "r1"})
    assert products.request_to_service(request) == HttpRequestData(
        "GET", service_path, headers=(*ACCEPT, ("X-Request-Id", "r1"))
    )


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (HttpRequestData("POST", "/api/products"), "method"),
        (HttpRequestData("DELETE", "/api/products/SKU-00001"), "method"),
        (legacy_get("/api/products/"), "path"),
        (legacy_get("/api/products/SKU-1/stock"), "path"),
        (legacy_get("/api/orders"), "path"),
    ],
)
def test_a_request_it_cannot_translate_names_the_part(
    products: Products, request_: HttpRequestData, field: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        products.request_to_service(request_)
    assert caught.value.field == field


# -- successful answers --------------------------------------------------------------------


def test_a_list_answer_becomes_the_legacy_page(products: Products) -> None:
    answer = service_answer(
        200, service_list(SERVICE_OAK_CHAIR, size=200, total=301), ("X-Service-Version", "v1")
    )

    legacy = products.response_to_legacy(legacy_get("/api/products", ("per_page", "500")), answer)

    assert legacy.status == 200
    assert legacy.headers == LEGACY_HEADERS  # the service's own headers are dropped
    body = json.loads(legacy.body)
    assert list(body.items()) == [
        ("result", "ok"),
        ("count", 301),
        ("page", 1),
        ("per_page", 200),
        ("products", [LEGACY_OAK_CHAIR]),
        ("generated_at", "25/11/2026 10:30:01.123456"),
    ]
    assert list(body["products"][0]) == list(LEGACY_OAK_CHAIR)


def test_generated_at_is_paris_time_whatever_the_clock_zone() -> None:
    products = Products(clock=lambda: datetime(2026, 7, 1, 22, 0, tzinfo=UTC))
    legacy = products.response_to_legacy(
        legacy_get("/api/products"), service_answer(200, service_list())
    )
    assert json.loads(legacy.body)["generated_at"] == "02/07/2026 00:00:00.000000"


def test_the_default_clock_is_now_in_paris() -> None:
    legacy = Products().response_to_legacy(
        legacy_get("/api/products"), service_answer(200, service_list())
    )
    stamp = datetime.strptime(json.loads(legacy.body)["generated_at"], "%d/%m/%Y %H:%M:%S.%f")
    assert abs(stamp.replace(tzinfo=PARIS) - datetime.now(PARIS)).total_seconds() < 60


def test_an_empty_page_is_still_a_page(products: Products) -> None:
    legacy = products.response_to_legacy(
        legacy_get("/api/products", ("page", "9")),
        service_answer(200, service_list(number=9, total=3)),
    )
    body = json.loads(legacy.body)
    assert (body["count"], body["page"], body["products"]) == (3, 9, [])


def test_a_detail_answer_becomes_the_legacy_product(products: Products) -> None:
    legacy = products.response_to_legacy(
        legacy_get("/api/products/SKU-00001"), service_answer(200, SERVICE_OAK_CHAIR)
    )
    assert legacy == HttpResponseData(
        200,
        LEGACY_HEADERS,
        json.dumps({"result": "ok", "product": LEGACY_OAK_CHAIR}).encode(),
    )


# -- error answers -------------------------------------------------------------------------


def legacy_error(status: int, message: str) -> HttpResponseData:
    body = {"result": "error", "errCode": f"E{status}", "errMsg": message}
    return HttpResponseData(status, LEGACY_HEADERS, json.dumps(body).encode())


def test_an_unknown_product_is_the_legacy_404(products: Products) -> None:
    error = {"code": "product_not_found", "message": "no such product", "details": {"sku": "X"}}
    legacy = products.response_to_legacy(
        legacy_get("/api/products/SKU%2099"), service_answer(404, {"error": error})
    )
    assert legacy == legacy_error(404, "product SKU 99 not found")


def invalid(parameter: str, message: str = "bad value") -> Any:
    details = {"parameter": parameter}
    return {"error": {"code": "invalid_parameter", "message": message, "details": details}}


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        (("page", "x"), "page", "query parameter page must be an integer"),
        (("page", "0"), "page", "query parameter page must be >= 1"),
        (("page", "-3"), "page", "query parameter page must be >= 1"),
        (("per_page", "1.5"), "page_size", "query parameter per_page must be an integer"),
        (("per_page", "0"), "page_size", "query parameter per_page must be >= 1"),
        # the monolith never rejects these, so the service's words are all there is
        (("curr", "EURO"), "currency", "currency must be a 3-letter code"),
    ],
)
def test_a_bad_parameter_is_the_legacy_400_in_the_monolith_words(
    products: Products, query: tuple[str, str], parameter: str, message: str
) -> None:
    answer = service_answer(400, invalid(parameter, "currency must be a 3-letter code"))
    legacy = products.response_to_legacy(legacy_get("/api/products", query), answer)
    assert legacy == legacy_error(400, message)


def test_a_parameter_the_monolith_accepts_is_not_turned_into_a_400(products: Products) -> None:
    with pytest.raises(TranslationError) as caught:
        products.response_to_legacy(
            legacy_get("/api/products", ("page", "2")), service_answer(400, invalid("page"))
        )
    assert caught.value.field == "$.error.details.parameter"


# -- answers that cannot be translated -----------------------------------------------------

GOOD_ERROR_404 = {"error": {"code": "product_not_found", "message": "m", "details": {}}}


@pytest.mark.parametrize(
    ("path", "answer", "field"),
    [
        ("/api/products", service_answer(500, {"error": {}}), "status"),
        ("/api/products/SKU-1", service_answer(503, b"upstream down"), "status"),
        ("/api/products", service_answer(404, GOOD_ERROR_404), "status"),
        ("/api/products/SKU-1", service_answer(409, {"error": {}}), "status"),
        ("/api/products/SKU-1", service_answer(201, SERVICE_OAK_CHAIR), "status"),
        ("/api/products", service_answer(200, b"<html>oops</html>"), "$"),
        ("/api/products", service_answer(200, b"\xff\xfe"), "$"),
        ("/api/products", service_answer(200, b""), "$"),
        ("/api/products", service_answer(200, []), "$"),
        ("/api/products", service_answer(200, {"page": {}}), "$.items"),
        ("/api/products", service_answer(200, {"items": {}, "page": {}}), "$.items"),
        ("/api/products", service_answer(200, {"items": []}), "$.page"),
        ("/api/products", service_answer(200, {"items": [], "page": []}), "$.page"),
        (
            "/api/products",
            service_answer(200, {"items": [], "page": {"number": 1, "size": 50}}),
            "$.page.total_items",
        ),
        (
            "/api/products",
            service_answer(200, {"items": [], "page": {"number": 0, "size": 50, "total_items": 0}}),
            "$.page.number",
        ),
        (
            "/api/products",
            service_answer(
                200, {"items": [], "page": {"number": 1, "size": "50", "total_items": 0}}
            ),
            "$.page.size",
        ),
        (
            "/api/products",
            service_answer(
                200,
                service_list(
                    SERVICE_OAK_CHAIR,
                    SERVICE_OAK_CHAIR,
                    SERVICE_OAK_CHAIR,
                    {**SERVICE_OAK_CHAIR, "price": {"amount": "19.999", "currency": "EUR"}},
                ),
            ),
            "$.items[3].price.amount",
        ),
        ("/api/products", service_answer(200, service_list(SERVICE_OAK_CHAIR, "x")), "$.items[1]"),
        (
            "/api/products/SKU-00001",
            service_answer(200, {**SERVICE_OAK_CHAIR, "updated_at": "soon"}),
            "$.updated_at",
        ),
        (
            "/api/products/SKU-00002",
            service_answer(200, SERVICE_OAK_CHAIR),
            "$.sku",
        ),
        ("/api/products/SKU-1", service_answer(404, {"detail": "Not Found"}), "$.error"),
        (
            "/api/products/SKU-1",
            service_answer(404, {"error": {"code": "route_not_found"}}),
            "$.error.code",
        ),
        ("/api/products", service_answer(400, {"error": {"code": 400}}), "$.error.code"),
        (
            "/api/products",
            service_answer(400, {"error": {"code": "invalid_parameter", "message": "m"}}),
            "$.error.details",
        ),
        (
            "/api/products",
            service_answer(400, {"error": {"code": "invalid_parameter", "details": {}}}),
            "$.error.details.parameter",
        ),
        (
            "/api/products",
            service_answer(
                400, {"error": {"code": "invalid_parameter", "details": {"parameter": "x"}}}
            ),
            "$.error.message",
        ),
        ("/api/customers", service_answer(200, service_list()), "path"),
    ],
)
def test_an_answer_it_cannot_translate_names_the_field(
    products: Products, path: str, answer: HttpResponseData, field: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        products.response_to_legacy(legacy_get(path), answer)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
