"""The v1 API on the real app (real SQLite file in tmp_path) through aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, inspect

from extracted.catalog.adapters.database import current_revision
from extracted.catalog.adapters.orm import products
from extracted.catalog.bootstrap import create_app
from extracted.catalog.domain.model import Currency, Money, Product, ProductStatus
from extracted.catalog.entrypoints import http
from extracted.catalog.service_layer import services
from extracted.catalog.settings import CatalogSettings
from extracted.catalog.testing import seed_engine
from extracted.chassis import http as chassis_http
from extracted.chassis.outbox import SYNC_TABLES

T0 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
CHAIR: dict[str, Any] = {
    "sku": "SKU-00001",
    "name": "Oak Chair",
    "price": {"amount": "19.99", "currency": "EUR"},
    "stock": {"on_hand": 12},
    "status": "active",
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(CatalogSettings(database_url=f"sqlite:///{tmp_path / 'catalog.db'}"))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def _engine(client: TestClient[Any, Any]) -> Engine:
    assert client.app is not None
    engine: Engine = client.app[http.ENGINE]
    return engine


def _seed(client: TestClient[Any, Any], count: int) -> None:
    seed_engine(
        _engine(client),
        [
            Product(
                f"SKU-{i:05d}",
                f"Chair {i}",
                Money(1000 + i, Currency.GBP if i % 2 else Currency.EUR),
                i,
                ProductStatus.ACTIVE,
                T0,
            )
            for i in range(1, count + 1)
        ],
    )


async def test_healthz_answers_ok_when_the_database_answers(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_healthz_is_503_when_the_database_does_not_answer(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(_engine: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(chassis_http, "ping", unreachable)
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["status"] == "unavailable"


async def test_start_migrates_the_own_database_to_head(client: TestClient[Any, Any]) -> None:
    engine = _engine(client)
    assert current_revision(engine) == "0002"
    tables = set(inspect(engine).get_table_names())
    assert tables == {"products", "catalog_alembic_version", *SYNC_TABLES}
    columns = {c["name"] for c in inspect(engine).get_columns("products")}
    assert columns == {c.name for c in products.columns}


async def test_put_creates_then_replaces_then_get_reads_it(client: TestClient[Any, Any]) -> None:
    created = await client.put("/v1/products/SKU-00001", json=CHAIR)
    assert created.status == 201
    assert created.headers["Location"] == "/v1/products/SKU-00001"
    body = await created.json()
    assert body | {"updated_at": None} == CHAIR | {"updated_at": None}
    assert datetime.fromisoformat(body["updated_at"]).tzinfo is not None
    assert body["updated_at"].endswith("Z")

    replaced = await client.put(
        "/v1/products/SKU-00001", json=CHAIR | {"price": {"amount": "5.00", "currency": "USD"}}
    )
    assert replaced.status == 200
    got = await client.get("/v1/products/SKU-00001")
    assert got.status == 200
    assert (await got.json())["price"] == {"amount": "5.00", "currency": "USD"}


async def test_put_again_is_idempotent(client: TestClient[Any, Any]) -> None:
    first = await (await client.put("/v1/products/SKU-00001", json=CHAIR)).json()
    again = await client.put("/v1/products/SKU-00001", json=CHAIR | {"updated_at": "1999"})
    assert again.status == 200
    assert await again.json() == first


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (CHAIR | {"price": {"amount": 19.99, "currency": "EUR"}}, "price.amount"),
        (CHAIR | {"price": {"amount": "1.999", "currency": "EUR"}}, "price.amount"),
        (CHAIR | {"price": {"amount": "-1.00", "currency": "EUR"}}, "price.amount"),
        (CHAIR | {"price": {"amount": "1.00", "currency": "XXX"}}, "price.currency"),
        (CHAIR | {"price": {"currency": "EUR"}}, "price.amount"),
        (CHAIR | {"stock": {"on_hand": -3}}, "stock.on_hand"),
        (CHAIR | {"status": "deleted"}, "status"),
        (CHAIR | {"sku": "SKU-00002"}, "sku"),
        (CHAIR | {"colour": "red"}, "colour"),
        ({k: v for k, v in CHAIR.items() if k != "name"}, "name"),
        ([CHAIR], "body"),
    ],
)
async def test_invalid_products_are_422_naming_the_field(
    client: TestClient[Any, Any], body: Any, field: str
) -> None:
    response = await client.put("/v1/products/SKU-00001", json=body)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "invalid_product"
    assert error["details"] == {"field": field}
    assert error["message"]
    assert (await client.get("/v1/products/SKU-00001")).status == 404


async def test_a_body_that_is_not_json_is_422(client: TestClient[Any, Any]) -> None:
    response = await client.put("/v1/products/SKU-00001", data=b"{not json")
    assert response.status == 422
    assert (await response.json())["error"]["details"] == {"field": "body"}


async def test_unknown_sku_is_product_not_found(client: TestClient[Any, Any]) -> None:
    response = await client.get("/v1/products/SKU-X")
    assert response.status == 404
    assert await response.json() == {
        "error": {
            "code": "product_not_found",
            "message": "product SKU-X not found",
            "details": {"sku": "SKU-X"},
        }
    }


async def test_list_pages_in_sku_order(client: TestClient[Any, Any]) -> None:
    _seed(client, 5)
    response = await client.get("/v1/products", params={"page": "2", "page_size": "2"})
    assert response.status == 200
    body = await response.json()
    assert [p["sku"] for p in body["items"]] == ["SKU-00003", "SKU-00004"]
    assert body["page"] == {"number": 2, "size": 2, "total_items": 5}
    assert body["items"][0]["price"] == {"amount": "10.03", "currency": "GBP"}
    assert body["items"][0]["updated_at"] == "2026-11-25T09:30:00Z"


async def test_list_defaults_and_clamps_the_page_size(client: TestClient[Any, Any]) -> None:
    _seed(client, 3)
    default = await (await client.get("/v1/products")).json()
    assert default["page"] == {"number": 1, "size": 50, "total_items": 3}
    clamped = await (await client.get("/v1/products?page_size=1000")).json()
    assert clamped["page"]["size"] == 200
    assert len(clamped["items"]) == 3


async def test_list_filters_by_name_and_currency(client: TestClient[Any, Any]) -> None:
    _seed(client, 12)
    body = await (await client.get("/v1/products?name_contains=cHAIR 1&currency=EUR")).json()
    assert [p["sku"] for p in body["items"]] == ["SKU-00010", "SKU-00012"]
    assert body["page"]["total_items"] == 2
    literal = await (await client.get("/v1/products?name_contains=%25")).json()
    assert literal["items"] == []  # "%" is a character to look for, not a wildcard


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("page=1.5", "page"),
        ("page_size=0", "page_size"),
        ("page_size=ten", "page_size"),
        ("currency=JPY", "currency"),
    ],
)
async def test_bad_parameters_are_400(
    client: TestClient[Any, Any], query: str, parameter: str
) -> None:
    response = await client.get(f"/v1/products?{query}")
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_parameter"
    assert error["details"] == {"parameter": parameter}
    if parameter != "currency":
        assert error["message"] == f"{parameter} must be a positive integer"


async def test_unknown_paths_and_methods_answer_in_the_error_shape(
    client: TestClient[Any, Any],
) -> None:
    missing = await client.get("/v2/products")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    wrong = await client.delete("/v1/products/SKU-00001")
    assert wrong.status == 405
    assert (await wrong.json())["error"]["code"] == "method_not_allowed"


async def test_unexpected_errors_are_500_without_a_traceback(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "product_get", broken)
    response = await client.get("/v1/products/SKU-00001")
    assert response.status == 500
    text = await response.text()
    assert "secret" not in text
    assert "Traceback" not in text
    assert await response.json() == {"error": {"code": "internal", "message": "internal error"}}


async def test_a_second_start_on_the_same_file_keeps_the_data(tmp_path: Path) -> None:
    settings = CatalogSettings(database_url=f"sqlite:///{tmp_path / 'catalog.db'}")
    async with TestClient(TestServer(create_app(settings))) as first:
        assert (await first.put("/v1/products/SKU-00001", json=CHAIR)).status == 201
    async with TestClient(TestServer(create_app(settings))) as second:
        assert (await second.get("/v1/products/SKU-00001")).status == 200
