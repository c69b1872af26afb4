"""The monolith's products as a data-move source: keyset pages in sku order, rows by key for the
sync, and a row whose stored value Django cannot read reported by its key while the rest of its
batch still reads."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from acl.data import RowSource, SyncSource
from legacy_monolith.data import PRODUCT_COLUMNS, ProductSource, stock
from tests.unit.legacy_monolith.conftest import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def source() -> ProductSource:
    # not closed: close() drops Django's connections, the test database's among them
    return ProductSource()


def test_rows_come_in_sku_order_page_after_page(
    source: ProductSource, make_product: ProductFactory
) -> None:
    for sku in ("SKU-3", "SKU-1", "SKU-2", "SKU-5", "SKU-4"):
        make_product(sku)
    assert isinstance(source, RowSource)
    assert source.count() == 5
    first = source.read(after=None, limit=2)
    assert [r.key for r in first] == ["SKU-1", "SKU-2"]
    assert [r.key for r in source.read(after="SKU-2", limit=2)] == ["SKU-3", "SKU-4"]
    assert [r.key for r in source.read(after="SKU-4", limit=2)] == ["SKU-5"]
    assert source.read(after="SKU-5", limit=2) == []


def test_a_row_holds_the_columns_the_translator_reads(
    source: ProductSource, make_product: ProductFactory
) -> None:
    make_product("SKU-1", price=1999, currency="GBP", stock=7, active=False)
    (row,) = source.read(after=None, limit=10)
    assert row.values is not None
    assert set(row.values) == set(PRODUCT_COLUMNS)
    assert (row.values["unit_price_cents"], row.values["currency"]) == (1999, "GBP")
    assert (row.values["stock"], row.values["active"]) == (7, False)
    updated = row.values["updated_at"]
    assert getattr(updated, "tzinfo", None) is not None


def test_an_unreadable_row_is_reported_by_key_and_its_batch_still_reads(
    source: ProductSource, make_product: ProductFactory
) -> None:
    for sku in ("SKU-1", "SKU-2", "SKU-3"):
        make_product(sku)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_product SET updated_at = '2024-13-45 10:00:00' WHERE sku = 'SKU-2'"
        )
    rows = source.read(after=None, limit=10)
    assert [r.key for r in rows] == ["SKU-1", "SKU-2", "SKU-3"]
    assert rows[0].values is not None
    assert rows[2].values is not None
    assert rows[1].values is None
    assert "month must be in 1..12" in (rows[1].problem or "")


def test_the_stock_source_reads_only_the_counters(make_product: ProductFactory) -> None:
    make_product("SKU-1", stock=9, reserved=4)
    (row,) = stock().read(after=None, limit=10)
    assert row.values == {"sku": "SKU-1", "stock": 9, "reserved": 4}


def test_read_keys_gives_the_current_rows_of_present_keys_only(
    source: ProductSource, make_product: ProductFactory
) -> None:
    for sku in ("SKU-1", "SKU-2", "SKU-3"):
        make_product(sku)
    assert isinstance(source, SyncSource)
    rows = source.read_keys(["SKU-3", "SKU-1", "SKU-gone", "SKU-1"])
    assert sorted(r.key for r in rows) == ["SKU-1", "SKU-3"]  # once each; gone: no row
    assert all(r.values is not None and set(r.values) == set(PRODUCT_COLUMNS) for r in rows)
    assert source.read_keys([]) == []


def test_read_keys_takes_more_keys_than_one_query_may_bind(
    source: ProductSource, make_product: ProductFactory
) -> None:
    from legacy_monolith.catalog.models import Product

    Product.objects.bulk_create(
        [Product(sku=f"SKU-{n:05d}", name="Stool", unit_price_cents=100) for n in range(1200)]
    )
    with CaptureQueriesContext(connection) as queries:
        rows = source.read_keys([f"SKU-{n:05d}" for n in range(1200)])
    assert len(rows) == 1200
    assert len(queries) == 3  # 500 keys a query


def test_read_keys_reports_an_unreadable_row_by_key(
    source: ProductSource, make_product: ProductFactory
) -> None:
    for sku in ("SKU-1", "SKU-2"):
        make_product(sku)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_product SET updated_at = '2024-13-45 10:00:00' WHERE sku = 'SKU-2'"
        )
    rows = {r.key: r for r in source.read_keys(["SKU-1", "SKU-2"])}
    assert rows["SKU-1"].values is not None
    assert rows["SKU-2"].values is None
    assert "month must be in 1..12" in (rows["SKU-2"].problem or "")


def test_the_stock_source_reads_the_counters_by_key(make_product: ProductFactory) -> None:
    make_product("SKU-1", stock=9, reserved=4)
    (row,) = stock().read_keys(["SKU-1"])
    assert row.values == {"sku": "SKU-1", "stock": 9, "reserved": 4}
