"""Products and inventory endpoints of the legacy API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from legacy_monolith.catalog.models import Product

pytestmark = pytest.mark.django_db

PRODUCT_KEYS = {"sku_item", "prodName", "unitPrice", "curr", "qty_on_hand", "is_active", "last_upd"}
NEW_PRODUCT = {
    "sku_item": "SKU-00500",
    "prodName": "Walnut Desk",
    "unitPrice": 24999,
    "curr": "GBP",
    "qty_on_hand": 7,
}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["result"] == "error"
    assert body["errCode"] == code
    assert isinstance(body["errMsg"], str)
    assert body["errMsg"]
    return body


def test_product_detail_has_the_legacy_shape(client: Client, make_product: Any) -> None:
    make_product("SKU-00001", name="Oak Chair", price=1999, stock=12)

    response = client.get("/api/products/SKU-00001")

    assert response.status_code == 200
    assert response["X-Legacy-Version"] == "1"
    body = response.json()
    assert body["result"] == "ok"
    product = body["product"]
    assert set(product) == PRODUCT_KEYS
    assert product["sku_item"] == "SKU-00001"
    assert product["prodName"] == "Oak Chair"
    assert product["unitPrice"] == 1999
    assert product["curr"] == "EUR"
    assert product["qty_on_hand"] == 12
    assert product["is_active"] == "Y"
    day, month, year = product["last_upd"].split("/")
    assert (len(day), len(month), len(year)) == (2, 2, 4)


def test_unknown_product_is_a_legacy_404(client: Client) -> None:
    body = assert_error(client.get("/api/products/SKU-99999"), 404, "E404")
    assert body["errMsg"] == "product SKU-99999 not found"


def test_product_list_paginates_in_sku_order(client: Client, make_product: Any) -> None:
    for number in (3, 1, 2):
        make_product(f"SKU-0000{number}")

    response = client.get("/api/products", {"page": 2, "per_page": 2})

    body = response.json()
    assert response.status_code == 200
    assert body["result"] == "ok"
    assert (body["count"], body["page"], body["per_page"]) == (3, 2, 2)
    assert [p["sku_item"] for p in body["products"]] == ["SKU-00003"]


def test_product_list_filters_by_name_and_currency(client: Client, make_product: Any) -> None:
    make_product("SKU-00001", name="Oak Chair", currency="EUR")
    make_product("SKU-00002", name="Oak Table", currency="GBP")
    make_product("SKU-00003", name="Pine Chair", currency="GBP")

    body = client.get("/api/products", {"q": "chair", "curr": "GBP"}).json()

    assert body["count"] == 1
    assert [p["sku_item"] for p in body["products"]] == ["SKU-00003"]


def test_per_page_is_clamped_to_200(client: Client) -> None:
    assert client.get("/api/products", {"per_page": 1000}).json()["per_page"] == 200


@pytest.mark.parametrize(
    "query", [{"page": "x"}, {"page": "0"}, {"per_page": "-1"}, {"per_page": "1.5"}]
)
def test_bad_pagination_is_a_legacy_400(client: Client, query: dict[str, str]) -> None:
    assert_error(client.get("/api/products", query), 400, "E400")


def test_create_product_returns_201_with_location(client: Client) -> None:
    response = client.post("/api/products", NEW_PRODUCT, content_type="application/json")

    assert response.status_code == 201
    assert response["Location"] == "/api/products/SKU-00500"
    assert response.json()["product"]["prodName"] == "Walnut Desk"
    stored = Product.objects.get(sku="SKU-00500")
    assert (stored.unit_price_cents, stored.currency, stored.stock) == (24999, "GBP", 7)


def test_duplicate_sku_is_a_conflict(client: Client, make_product: Any) -> None:
    make_product("SKU-00500")
    response = client.post("/api/products", NEW_PRODUCT, content_type="application/json")
    assert_error(response, 409, "E409")


@pytest.mark.parametrize(
    "override",
    [
        {"unitPrice": -1},
        {"unitPrice": "12"},
        {"unitPrice": True},
        {"curr": "eur"},
        {"prodName": ""},
        {"sku_item": "bad sku/x"},
        {"qty_on_hand": None},
    ],
)
def test_invalid_product_is_a_legacy_400(client: Client, override: dict[str, Any]) -> None:
    response = client.post(
        "/api/products", {**NEW_PRODUCT, **override}, content_type="application/json"
    )
    assert_error(response, 400, "E400")
    assert not Product.objects.exists()


def test_malformed_json_is_a_legacy_400(client: Client) -> None:
    response = client.post("/api/products", "{not json", content_type="application/json")
    assert_error(response, 400, "E400")


def test_put_replaces_all_fields(client: Client, make_product: Any) -> None:
    make_product("SKU-00500")
    body = {**NEW_PRODUCT, "prodName": "Renamed", "unitPrice": 5}

    response = client.put("/api/products/SKU-00500", body, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["product"]["prodName"] == "Renamed"
    assert Product.objects.get(sku="SKU-00500").unit_price_cents == 5


def test_put_requires_every_field(client: Client, make_product: Any) -> None:
    make_product("SKU-00500")
    response = client.put(
        "/api/products/SKU-00500", {"prodName": "Only"}, content_type="application/json"
    )
    assert_error(response, 400, "E400")


def test_patch_changes_only_given_fields(client: Client, make_product: Any) -> None:
    make_product("SKU-00500", name="Keep", price=100)

    response = client.patch(
        "/api/products/SKU-00500", {"unitPrice": 250}, content_type="application/json"
    )

    assert response.status_code == 200
    product = response.json()["product"]
    assert (product["prodName"], product["unitPrice"]) == ("Keep", 250)


def test_stock_cannot_drop_below_reserved(client: Client, make_product: Any) -> None:
    make_product("SKU-00500", stock=10, reserved=4)
    response = client.patch(
        "/api/products/SKU-00500", {"qty_on_hand": 3}, content_type="application/json"
    )
    assert_error(response, 409, "E409")


def test_update_of_unknown_product_is_404(client: Client) -> None:
    response = client.patch(
        "/api/products/SKU-404", {"unitPrice": 1}, content_type="application/json"
    )
    assert_error(response, 404, "E404")


def test_delete_marks_inactive(client: Client, make_product: Any) -> None:
    make_product("SKU-00500")

    response = client.delete("/api/products/SKU-00500")

    assert response.status_code == 204
    assert Product.objects.get(sku="SKU-00500").active is False
    assert client.get("/api/products/SKU-00500").json()["product"]["is_active"] == "N"
    assert_error(client.delete("/api/products/SKU-404"), 404, "E404")


def test_inventory_shape(client: Client, make_product: Any) -> None:
    make_product("SKU-00001", stock=10, reserved=3)

    body = client.get("/api/inventory/SKU-00001").json()

    assert body == {
        "result": "ok",
        "sku_item": "SKU-00001",
        "qty_on_hand": 10,
        "qty_reserved": 3,
        "qty_avail": 7,
    }


def test_reserve_moves_stock_to_reserved(client: Client, make_product: Any) -> None:
    make_product("SKU-00001", stock=5)

    response = client.post(
        "/api/inventory/SKU-00001/reserve", {"qty": 2}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["qty_reserved"] == 2
    assert response.json()["qty_avail"] == 3


def test_reserving_more_than_available_is_409_and_changes_nothing(
    client: Client, make_product: Any
) -> None:
    make_product("SKU-00001", stock=5, reserved=4)

    response = client.post(
        "/api/inventory/SKU-00001/reserve", {"qty": 2}, content_type="application/json"
    )

    assert_error(response, 409, "E409")
    assert Product.objects.get(sku="SKU-00001").reserved == 4


@pytest.mark.parametrize("qty", [0, -3, "2"])
def test_reserve_needs_a_positive_integer(client: Client, make_product: Any, qty: Any) -> None:
    make_product("SKU-00001")
    response = client.post(
        "/api/inventory/SKU-00001/reserve", {"qty": qty}, content_type="application/json"
    )
    assert_error(response, 400, "E400")


def test_wrong_method_is_a_legacy_405(client: Client) -> None:
    response = client.delete("/api/products")
    assert_error(response, 405, "E405")
    assert "GET" in response["Allow"]


def test_unknown_api_path_is_json_404_but_other_paths_are_html(client: Client) -> None:
    api = client.get("/api/no/such/thing")
    assert_error(api, 404, "E404")
    assert api["X-Legacy-Version"] == "1"

    page = client.get("/no/such/page")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_ten_megabyte_json_bodies_are_accepted(client: Client) -> None:
    body = {**NEW_PRODUCT, "padding": "x" * (10 * 1024 * 1024)}
    response = client.post("/api/products", body, content_type="application/json")
    assert response.status_code == 201
