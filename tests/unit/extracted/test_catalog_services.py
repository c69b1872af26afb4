"""The catalog's use cases against the in-memory fake: no database, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from extracted.catalog.domain.model import Currency, Money, Product, ProductStatus
from extracted.catalog.domain.pages import ProductQuery
from extracted.catalog.errors import InvalidProduct, ProductNotFound
from extracted.catalog.service_layer import services
from extracted.catalog.testing import FakeUnitOfWork, seed

T0 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def _command(sku: str = "SKU-00001", **changes: object) -> services.UpsertProduct:
    fields: dict[str, object] = {
        "sku": sku,
        "name": "Oak Chair",
        "price": Money(1999, Currency.EUR),
        "on_hand": 12,
        "status": ProductStatus.ACTIVE,
    }
    return services.UpsertProduct(**(fields | changes))  # type: ignore[arg-type]


def _product(sku: str, name: str, currency: Currency = Currency.EUR) -> Product:
    return Product(sku, name, Money(100, currency), 1, ProductStatus.ACTIVE, T0)


def test_a_new_product_is_created_and_stamped_by_the_clock() -> None:
    uow = FakeUnitOfWork()
    result = services.product_upsert(uow, _command(), clock=lambda: T0)
    assert result.created
    assert result.product.updated_at == T0
    assert uow.committed.get("SKU-00001") == result.product
    assert uow.commits == 1


def test_a_changed_product_is_replaced_with_a_new_updated_at() -> None:
    uow = FakeUnitOfWork()
    services.product_upsert(uow, _command(), clock=lambda: T0)
    later = T0 + timedelta(minutes=5)
    result = services.product_upsert(uow, _command(on_hand=3), clock=lambda: later)
    assert not result.created
    assert result.product.on_hand == 3
    assert result.product.updated_at == later


def test_sending_the_same_product_again_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    first = services.product_upsert(uow, _command(), clock=lambda: T0)
    again = services.product_upsert(uow, _command(), clock=lambda: T0 + timedelta(hours=1))
    assert not again.created
    assert again.product == first.product
    assert uow.commits == 1


def test_an_invalid_command_is_refused_before_any_work() -> None:
    with pytest.raises(InvalidProduct):
        _command(on_hand=-1)


def test_getting_an_unknown_product_raises_not_found() -> None:
    with pytest.raises(ProductNotFound) as caught:
        services.product_get(FakeUnitOfWork(), "SKU-X")
    assert caught.value.sku == "SKU-X"
    assert str(caught.value) == "product SKU-X not found"


def test_list_filters_by_name_and_currency_and_orders_by_sku() -> None:
    uow = FakeUnitOfWork()
    seed(
        uow,
        [
            _product("B", "Oak Table"),
            _product("A", "oak chair"),
            _product("C", "Pine Chair"),
            _product("D", "Oak Shelf", Currency.GBP),
        ],
    )
    page = services.products_list(uow, ProductQuery(name_contains="OAK", currency=Currency.EUR))
    assert [p.sku for p in page.items] == ["A", "B"]
    assert page.total_items == 2


def test_list_pages_count_every_match() -> None:
    uow = FakeUnitOfWork([_product(f"SKU-{i:05d}", f"Chair {i}") for i in range(5)])
    page = services.products_list(uow, ProductQuery(number=2, size=2))
    assert [p.sku for p in page.items] == ["SKU-00002", "SKU-00003"]
    assert (page.number, page.size, page.total_items) == (2, 2, 5)
    beyond = services.products_list(uow, ProductQuery(number=9, size=2))
    assert beyond.items == ()
    assert beyond.total_items == 5
