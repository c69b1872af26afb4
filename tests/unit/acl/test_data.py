"""The data-move ports: checksums, differing fields, row readers, plugin loading, and the
product-catalog row translator."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acl.catalog import MINOR_UNITS, product_from_service
from acl.catalog_rows import product_from_legacy_row, product_row_from_legacy
from acl.data import (
    DataMoveError,
    PluginNotFound,
    RowSource,
    RowTarget,
    canonical,
    checksum,
    differing_fields,
    load_attribute,
    load_row_translator,
    load_source,
    load_target,
)
from acl.errors import TranslationError

UPDATED = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC)


def legacy_row(**changes: object) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sku": "SKU-00001",
        "name": "Oak Chair",
        "unit_price_cents": 1999,
        "currency": "EUR",
        "stock": 12,
        "active": True,
        "updated_at": UPDATED,
    }
    return row | changes


# -- checksums -----------------------------------------------------------------------------


def test_the_checksum_ignores_key_order_but_not_values() -> None:
    one = {"sku": "A", "price": {"amount": "1.00", "currency": "EUR"}}
    same = {"price": {"currency": "EUR", "amount": "1.00"}, "sku": "A"}
    assert (
        canonical(one)
        == canonical(same)
        == b'{"price":{"amount":"1.00","currency":"EUR"},"sku":"A"}'
    )
    assert checksum(one) == checksum(same)
    assert checksum(one) != checksum({**one, "sku": "B"})


def test_the_checksum_tells_true_from_1_and_text_from_numbers() -> None:
    assert checksum({"a": True}) != checksum({"a": 1})
    assert checksum({"a": "1"}) != checksum({"a": 1})


def test_the_canonical_form_is_utf8_not_escaped() -> None:
    assert canonical({"name": "Chloé"}) == '{"name":"Chloé"}'.encode()


def test_a_row_that_is_not_plain_json_is_a_data_move_error() -> None:
    with pytest.raises(DataMoveError, match="not plain JSON"):
        checksum({"updated_at": UPDATED})
    with pytest.raises(DataMoveError):
        checksum({"x": float("nan")})


def test_differing_fields_are_named_by_dotted_path() -> None:
    left = {"sku": "A", "price": {"amount": "1.00", "currency": "EUR"}, "gone": 1}
    right = {"sku": "A", "price": {"amount": "2.00", "currency": "EUR"}, "new": 1}
    assert differing_fields(left, right) == ["gone", "new", "price.amount"]
    assert differing_fields({"a": True}, {"a": 1}) == ["a"]
    assert differing_fields(left, dict(left)) == []


# -- the product-catalog row translator -----------------------------------------------------


def test_a_legacy_product_row_becomes_the_catalog_v1_product() -> None:
    assert product_row_from_legacy(legacy_row()) == {
        "sku": "SKU-00001",
        "name": "Oak Chair",
        "price": {"amount": "19.99", "currency": "EUR"},
        "stock": {"on_hand": 12},
        "status": "active",
        "updated_at": "2026-11-25T09:30:15.123456Z",  # the full instant, not the legacy date
    }


def test_an_inactive_product_in_another_zone_and_currency() -> None:
    paris_winter = timezone(timedelta(hours=1))
    row = legacy_row(
        active=0, currency="JPY", unit_price_cents=500, updated_at=UPDATED.astimezone(paris_winter)
    )
    service = product_row_from_legacy(row)
    assert service["status"] == "inactive"
    assert service["price"] == {"amount": "500", "currency": "JPY"}
    assert service["updated_at"] == "2026-11-25T09:30:15.123456Z"


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"currency": "XYZ"}, "currency", "unknown currency"),
        ({"currency": None}, "currency", "not a string"),
        ({"unit_price_cents": -1}, "unit_price_cents", "below 0"),
        ({"unit_price_cents": "19.99"}, "unit_price_cents", "not an integer"),
        ({"stock": True}, "stock", "not an integer"),
        ({"active": 2}, "active", "not a boolean"),
        ({"updated_at": None}, "updated_at", "not a date and time"),
        ({"updated_at": datetime(2026, 1, 1)}, "updated_at", "no time zone"),
        ({"name": 7}, "name", "not a string"),
    ],
)
def test_a_bad_column_is_a_translation_error_naming_it(
    changes: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        product_row_from_legacy(legacy_row(**changes))
    assert caught.value.field == field
    assert caught.value.reason == reason


def test_a_missing_column_is_named() -> None:
    row = legacy_row()
    del row["stock"]
    with pytest.raises(TranslationError, match="stock: missing"):
        product_row_from_legacy(row)


@given(
    price=st.integers(0, 10**12),
    currency=st.sampled_from(sorted(MINOR_UNITS)),
    stock=st.integers(-5, 10**6),
    active=st.booleans(),
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
def test_the_service_row_reads_back_as_the_same_product(
    price: int, currency: str, stock: int, active: bool, moment: datetime
) -> None:
    row = legacy_row(
        unit_price_cents=price, currency=currency, stock=stock, active=active, updated_at=moment
    )
    assert product_from_service(product_row_from_legacy(row)) == product_from_legacy_row(row)


# -- loading plugins ------------------------------------------------------------------------


class GoodSource:
    def count(self) -> int:
        return 0

    def read(self, *, after: str | None, limit: int) -> list[Any]:
        return []

    def close(self) -> None:
        pass


class GoodTarget(GoodSource):
    def prepare(self) -> None:
        pass

    def upsert(self, rows: Any) -> Any:
        raise NotImplementedError


def make_source() -> GoodSource:
    return GoodSource()


def broken_factory() -> GoodSource:
    raise DataMoveError("database gone")


NOT_A_PLUGIN = 42


def test_a_source_may_be_a_class_a_factory_or_an_instance() -> None:
    here = __name__
    assert isinstance(load_source(f"{here}:GoodSource"), RowSource)
    assert isinstance(load_source(f"{here}:make_source"), GoodSource)
    assert isinstance(load_target(f"{here}:GoodTarget"), RowTarget)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("no_colon", "not 'pkg.module:name'"),
        ("tests.unit.acl.nowhere:x", "cannot import tests.unit.acl.nowhere"),
        (f"{__name__}:Missing", "has no Missing"),
        (f"{__name__}:NOT_A_PLUGIN", "it has no count/read/close methods"),
        (f"{__name__}:legacy_row", "cannot call legacy_row()"),
    ],
)
def test_a_source_that_cannot_load_says_why(spec: str, reason: str) -> None:
    if spec.endswith(":legacy_row"):
        # legacy_row() succeeds but makes a dict: the protocol check catches it
        reason = "legacy_row() has no count/read/close methods"
    with pytest.raises(PluginNotFound) as caught:
        load_source(spec)
    assert reason in str(caught.value)
    assert caught.value.spec == spec


def test_a_source_is_not_a_target() -> None:
    with pytest.raises(PluginNotFound, match="prepare/count/upsert/read/close"):
        load_target(f"{__name__}:GoodSource")


def test_a_factory_that_cannot_open_its_database_says_so() -> None:
    with pytest.raises(DataMoveError, match="database gone") as caught:
        load_source(f"{__name__}:broken_factory")
    assert not isinstance(caught.value, PluginNotFound)


def test_a_row_translator_is_a_function() -> None:
    assert (
        load_row_translator("acl.catalog_rows:product_row_from_legacy") is product_row_from_legacy
    )
    with pytest.raises(PluginNotFound, match="not a function"):
        load_row_translator(f"{__name__}:GoodSource")
    with pytest.raises(PluginNotFound, match="not a function"):
        load_row_translator(f"{__name__}:NOT_A_PLUGIN")


def test_load_attribute_gives_the_named_object_itself_or_says_why_not() -> None:
    assert load_attribute("acl.data:canonical") is canonical  # not called: callers decide
    for spec, reason in [
        ("acl.data", "not 'pkg.module:name'"),
        ("acl.nowhere:x", "cannot import acl.nowhere"),
        ("acl.data:nothing_here", "acl.data has no nothing_here"),
    ]:
        with pytest.raises(PluginNotFound, match=re.escape(reason)):
            load_attribute(spec)
