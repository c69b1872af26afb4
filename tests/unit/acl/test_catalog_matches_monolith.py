"""The translated answers equal the real monolith's, byte for byte where it is deterministic.

The monolith answers through Django's test client; the service answers are the new-model
equivalents of the same rows, written out by hand so the test does not trust the translator.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from django.test import Client

from acl.catalog import Products
from acl.http import HttpRequestData, HttpResponseData
from legacy_monolith.catalog.legacy_json import product_to_legacy as monolith_product_to_legacy
from legacy_monolith.catalog.models import Product as ProductRow

pytestmark = pytest.mark.django_db

TRANSLATOR = Products()


def row(
    sku: str, name: str, price: int, currency: str, stock: int, active: bool, updated: str
) -> ProductRow:
    created = ProductRow.objects.create(
        sku=sku, name=name, unit_price_cents=price, currency=currency, stock=stock, active=active
    )
    # auto_now sets updated_at on save(); an update() query keeps the instant we choose
    ProductRow.objects.filter(pk=created.pk).update(updated_at=datetime.fromisoformat(updated))
    created.refresh_from_db()
    return created


def new_model(
    sku: str, name: str, amount: str, currency: str, stock: int, status: str, updated: str
) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": name,
        "price": {"amount": amount, "currency": currency},
        "stock": {"on_hand": stock},
        "status": status,
        "updated_at": updated,
    }


# (row as the monolith stores it, the same product as the service sends it)
CASES = [
    (
        ("SKU-00001", "Oak Chair", 1999, "EUR", 12, True, "2026-11-25T09:30:00+00:00"),
        ("SKU-00001", "Oak Chair", "19.99", "EUR", 12, "active", "2026-11-25T09:30:00Z"),
    ),
    (  # 23:30 UTC is already tomorrow in Paris
        ("SKU-00002", "Walnut Desk", 24999, "GBP", 0, False, "2026-11-24T23:30:00+00:00"),
        ("SKU-00002", "Walnut Desk", "249.99", "GBP", 0, "inactive", "2026-11-24T23:30:00Z"),
    ),
    (  # summer time, non-ASCII name, a 0-decimal currency
        ("SKU-00003", "Chaise en chêne", 1500, "JPY", 3, True, "2026-07-14T22:15:00.5+00:00"),
        ("SKU-00003", "Chaise en chêne", "1500", "JPY", 3, "active", "2026-07-14T22:15:00.5Z"),
    ),
]


def service(status: int, body: Any) -> HttpResponseData:
    return HttpResponseData(
        status, (("Content-Type", "application/json"),), json.dumps(body).encode()
    )


def translated(path: str, answer: HttpResponseData, **query: str) -> HttpResponseData:
    legacy_request = HttpRequestData("GET", path, tuple(query.items()))
    TRANSLATOR.request_to_service(legacy_request)  # it must translate both ways
    return TRANSLATOR.response_to_legacy(legacy_request, answer)


def assert_same_answer(ours: HttpResponseData, theirs: Any) -> None:
    assert ours.status == theirs.status_code
    assert ours.body == theirs.content  # byte for byte: key order, escaping, spacing
    for name, value in ours.headers:
        assert theirs[name] == value


@pytest.mark.parametrize(("stored", "sent"), CASES)
def test_a_translated_product_is_the_monolith_product(
    client: Client, stored: tuple[Any, ...], sent: tuple[Any, ...]
) -> None:
    product = row(*stored)

    theirs = client.get(f"/api/products/{product.sku}")
    ours = translated(f"/api/products/{product.sku}", service(200, new_model(*sent)))

    assert_same_answer(ours, theirs)
    assert list(json.loads(ours.body)["product"].items()) == list(
        monolith_product_to_legacy(product).items()
    )


def test_a_translated_page_is_the_monolith_page(client: Client) -> None:
    for stored, _ in CASES:
        row(*stored)
    query = {"page": "1", "per_page": "2", "q": "a"}
    answer = {
        "items": [new_model(*sent) for _, sent in CASES[:2]],
        "page": {"number": 1, "size": 2, "total_items": 3},
    }

    theirs = client.get("/api/products", query).json()
    ours = json.loads(translated("/api/products", service(200, answer), **query).body)

    # generated_at is the page's build time on both sides: same format, different instant
    assert datetime.strptime(ours.pop("generated_at"), "%d/%m/%Y %H:%M:%S.%f")
    assert datetime.strptime(theirs.pop("generated_at"), "%d/%m/%Y %H:%M:%S.%f")
    assert list(ours.items()) == list(theirs.items())


def test_a_clamped_page_size_is_echoed_as_the_monolith_does(client: Client) -> None:
    theirs = client.get("/api/products", {"per_page": "500"}).json()
    answer = {"items": [], "page": {"number": 1, "size": 200, "total_items": 0}}
    ours = json.loads(translated("/api/products", service(200, answer), per_page="500").body)
    assert (ours["per_page"], ours["count"]) == (theirs["per_page"], theirs["count"]) == (200, 0)


def test_a_translated_404_is_the_monolith_404(client: Client) -> None:
    error = {"code": "product_not_found", "message": "gone", "details": {"sku": "SKU-99999"}}
    ours = translated("/api/products/SKU-99999", service(404, {"error": error}))
    assert_same_answer(ours, client.get("/api/products/SKU-99999"))


@pytest.mark.parametrize(
    ("legacy_name", "value", "parameter"),
    [
        ("page", "x", "page"),
        ("page", "0", "page"),
        ("per_page", "abc", "page_size"),
        ("per_page", "-5", "page_size"),
    ],
)
def test_a_translated_400_is_the_monolith_400(
    client: Client, legacy_name: str, value: str, parameter: str
) -> None:
    error = {"code": "invalid_parameter", "message": "no", "details": {"parameter": parameter}}
    ours = translated("/api/products", service(400, {"error": error}), **{legacy_name: value})
    assert_same_answer(ours, client.get("/api/products", {legacy_name: value}))
