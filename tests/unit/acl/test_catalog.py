"""The product translator pairs, money and dates: each direction, table-driven."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from acl.catalog import (
    Product,
    amount_to_minor,
    format_utc_timestamp,
    legacy_date,
    minor_to_amount,
    minor_units,
    moment_from_legacy_date,
    parse_utc_timestamp,
    product_from_legacy,
    product_from_service,
    product_to_legacy,
    product_to_service,
)
from acl.errors import TranslationError

OAK_CHAIR = Product(
    sku="SKU-00001",
    name="Oak Chair",
    price_minor=1999,
    currency="EUR",
    on_hand=12,
    active=True,
    updated_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
)
LEGACY_OAK_CHAIR: dict[str, Any] = {
    "sku_item": "SKU-00001",
    "prodName": "Oak Chair",
    "unitPrice": 1999,
    "curr": "EUR",
    "qty_on_hand": 12,
    "is_active": "Y",
    "last_upd": "25/11/2026",
}
SERVICE_OAK_CHAIR: dict[str, Any] = {
    "sku": "SKU-00001",
    "name": "Oak Chair",
    "price": {"amount": "19.99", "currency": "EUR"},
    "stock": {"on_hand": 12},
    "status": "active",
    "updated_at": "2026-11-25T09:30:00Z",
}


# -- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("19.99", "EUR", 1999),
        ("0.00", "GBP", 0),
        ("0.05", "USD", 5),
        ("1000000.10", "EUR", 100000010),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1234),
    ],
)
def test_amounts_and_minor_units_convert_both_ways(amount: str, currency: str, minor: int) -> None:
    assert amount_to_minor(amount, currency) == minor
    assert minor_to_amount(minor, currency) == amount


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("19.999", "EUR"),
        ("19.9", "EUR"),
        ("19", "EUR"),
        ("-1.00", "EUR"),
        ("01.00", "EUR"),
        ("1e3", "EUR"),
        (" 1.00", "EUR"),
        ("1,00", "EUR"),
        ("NaN", "EUR"),
        ("15.00", "JPY"),
        ("", "GBP"),
    ],
)
def test_an_amount_without_exactly_the_currency_decimals_is_rejected(
    amount: str, currency: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        amount_to_minor(amount, currency, field="$.price.amount")
    assert caught.value.field == "$.price.amount"
    assert caught.value.value == amount


def test_an_unknown_currency_has_no_minor_units() -> None:
    with pytest.raises(TranslationError, match="unknown currency"):
        minor_units("XYZ")


def test_a_negative_price_has_no_amount() -> None:
    with pytest.raises(TranslationError, match="negative price"):
        minor_to_amount(-1, "EUR")


# -- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "local_date"),
    [
        ("2026-11-25T09:30:00Z", "25/11/2026"),
        ("2026-11-24T23:30:00Z", "25/11/2026"),  # winter: UTC+1
        ("2026-11-24T22:59:59.999999Z", "24/11/2026"),
        ("2026-07-14T22:00:00Z", "15/07/2026"),  # summer: UTC+2
        ("2026-07-14T21:59:59Z", "14/07/2026"),
        ("2026-03-29T01:30:00Z", "29/03/2026"),  # the spring-forward night
        ("2026-12-31T23:00:00+00:00", "01/01/2027"),
    ],
)
def test_the_legacy_date_is_the_paris_calendar_date(instant: str, local_date: str) -> None:
    assert legacy_date(parse_utc_timestamp(instant)) == local_date


@pytest.mark.parametrize(
    ("local_date", "instant"),
    [
        ("25/11/2026", "2026-11-24T23:00:00Z"),
        ("15/07/2026", "2026-07-14T22:00:00Z"),
        ("29/03/2026", "2026-03-28T23:00:00Z"),
        ("25/10/2026", "2026-10-24T22:00:00Z"),
        ("29/02/2028", "2028-02-28T23:00:00Z"),
    ],
)
def test_a_legacy_date_means_local_midnight(local_date: str, instant: str) -> None:
    assert format_utc_timestamp(moment_from_legacy_date(local_date)) == instant


@pytest.mark.parametrize(
    "text", ["2026-11-25", "25/11/26", "2026/11/25", "31/02/2026", "1/1/2026", "25-11-2026", ""]
)
def test_a_malformed_legacy_date_is_rejected(text: str) -> None:
    with pytest.raises(TranslationError) as caught:
        moment_from_legacy_date(text, field="$.last_upd")
    assert caught.value.field == "$.last_upd"


@pytest.mark.parametrize(
    ("text", "formatted"),
    [
        ("2026-11-25T09:30:00Z", "2026-11-25T09:30:00Z"),
        ("2026-11-25T09:30:00+00:00", "2026-11-25T09:30:00Z"),
        ("2026-11-25T09:30:00.5Z", "2026-11-25T09:30:00.500000Z"),
        ("2026-11-25T09:30:00.123456Z", "2026-11-25T09:30:00.123456Z"),
    ],
)
def test_utc_timestamps_parse_and_format(text: str, formatted: str) -> None:
    assert format_utc_timestamp(parse_utc_timestamp(text)) == formatted


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T09:30:00",  # naive
        "2026-11-25T10:30:00+01:00",  # not UTC
        "2026-11-25 09:30:00Z",
        "2026-11-25",
        "20261125T093000Z",
        "2026-13-25T09:30:00Z",
        "2026-11-25T25:30:00Z",
        "yesterday",
    ],
)
def test_a_timestamp_that_is_not_iso_utc_is_rejected(text: str) -> None:
    with pytest.raises(TranslationError):
        parse_utc_timestamp(text)


def test_a_product_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        replace(OAK_CHAIR, updated_at=datetime(2026, 11, 25, 9, 30))


# -- the product pairs, each direction -----------------------------------------------------


def test_product_to_legacy_has_the_monolith_keys_in_its_order() -> None:
    assert list(product_to_legacy(OAK_CHAIR).items()) == list(LEGACY_OAK_CHAIR.items())


def test_product_to_service_has_the_service_shape() -> None:
    assert product_to_service(OAK_CHAIR) == SERVICE_OAK_CHAIR


def test_product_from_service_reads_the_service_shape() -> None:
    assert product_from_service(SERVICE_OAK_CHAIR) == OAK_CHAIR


def test_product_from_legacy_reads_the_date_as_local_midnight() -> None:
    assert product_from_legacy(LEGACY_OAK_CHAIR) == replace(
        OAK_CHAIR, updated_at=datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("change", "legacy"),
    [
        ({"active": False}, {"is_active": "N"}),
        ({"currency": "JPY", "price_minor": 1500}, {"curr": "JPY", "unitPrice": 1500}),
        ({"on_hand": 0}, {"qty_on_hand": 0}),
        ({"name": "Chaise en chêne"}, {"prodName": "Chaise en chêne"}),
    ],
)
def test_each_field_reaches_the_legacy_product(
    change: dict[str, Any], legacy: dict[str, Any]
) -> None:
    assert product_to_legacy(replace(OAK_CHAIR, **change)) == {**LEGACY_OAK_CHAIR, **legacy}


@pytest.mark.parametrize(
    ("service", "change"),
    [
        ({"status": "inactive"}, {"active": False}),
        ({"price": {"amount": "0.00", "currency": "GBP"}}, {"price_minor": 0, "currency": "GBP"}),
        ({"stock": {"on_hand": 3, "reserved": 1}}, {"on_hand": 3}),  # unknown fields ignored
        ({"extra": True}, {}),
    ],
)
def test_each_service_field_reaches_the_product(
    service: dict[str, Any], change: dict[str, Any]
) -> None:
    assert product_from_service({**SERVICE_OAK_CHAIR, **service}) == replace(OAK_CHAIR, **change)


# -- malformed products: the error names the exact JSON path -------------------------------


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (_without(SERVICE_OAK_CHAIR, "sku"), "$.sku"),
        (_without(SERVICE_OAK_CHAIR, "updated_at"), "$.updated_at"),
        ({**SERVICE_OAK_CHAIR, "sku": 1}, "$.sku"),
        ({**SERVICE_OAK_CHAIR, "name": None}, "$.name"),
        ({**SERVICE_OAK_CHAIR, "price": "19.99"}, "$.price"),
        ({**SERVICE_OAK_CHAIR, "price": {"currency": "EUR"}}, "$.price.amount"),
        ({**SERVICE_OAK_CHAIR, "price": {"amount": 19.99, "currency": "EUR"}}, "$.price.amount"),
        ({**SERVICE_OAK_CHAIR, "price": {"amount": "19.999", "currency": "EUR"}}, "$.price.amount"),
        (
            {**SERVICE_OAK_CHAIR, "price": {"amount": "19.99", "currency": "eur"}},
            "$.price.currency",
        ),
        (
            {**SERVICE_OAK_CHAIR, "price": {"amount": "19.99", "currency": "XYZ"}},
            "$.price.currency",
        ),
        ({**SERVICE_OAK_CHAIR, "price": {"amount": "19.99"}}, "$.price.currency"),
        ({**SERVICE_OAK_CHAIR, "stock": {}}, "$.stock.on_hand"),
        ({**SERVICE_OAK_CHAIR, "stock": {"on_hand": "12"}}, "$.stock.on_hand"),
        ({**SERVICE_OAK_CHAIR, "stock": {"on_hand": True}}, "$.stock.on_hand"),
        ({**SERVICE_OAK_CHAIR, "stock": {"on_hand": 12.0}}, "$.stock.on_hand"),
        ({**SERVICE_OAK_CHAIR, "stock": []}, "$.stock"),
        ({**SERVICE_OAK_CHAIR, "status": "archived"}, "$.status"),
        ({**SERVICE_OAK_CHAIR, "status": True}, "$.status"),
        ({**SERVICE_OAK_CHAIR, "updated_at": "25/11/2026"}, "$.updated_at"),
        ({**SERVICE_OAK_CHAIR, "updated_at": "2026-11-25T09:30:00"}, "$.updated_at"),
        ({**SERVICE_OAK_CHAIR, "updated_at": 1764063000}, "$.updated_at"),
    ],
)
def test_a_malformed_service_product_names_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError) as caught:
        product_from_service(raw)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_a_nested_service_product_is_reported_at_its_position() -> None:
    raw = {**SERVICE_OAK_CHAIR, "price": {"amount": "19.999", "currency": "EUR"}}
    with pytest.raises(TranslationError) as caught:
        product_from_service(raw, at="$.items[3]")
    assert caught.value.field == "$.items[3].price.amount"
    assert caught.value.value == "19.999"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (_without(LEGACY_OAK_CHAIR, "sku_item"), "$.sku_item"),
        ({**LEGACY_OAK_CHAIR, "unitPrice": "1999"}, "$.unitPrice"),
        ({**LEGACY_OAK_CHAIR, "unitPrice": -1}, "$.unitPrice"),
        ({**LEGACY_OAK_CHAIR, "curr": "XYZ"}, "$.curr"),
        ({**LEGACY_OAK_CHAIR, "qty_on_hand": None}, "$.qty_on_hand"),
        ({**LEGACY_OAK_CHAIR, "is_active": "yes"}, "$.is_active"),
        ({**LEGACY_OAK_CHAIR, "is_active": True}, "$.is_active"),
        ({**LEGACY_OAK_CHAIR, "last_upd": "2026-11-25"}, "$.last_upd"),
        ({**LEGACY_OAK_CHAIR, "last_upd": "31/11/2026"}, "$.last_upd"),
    ],
)
def test_a_malformed_legacy_product_names_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError) as caught:
        product_from_legacy(raw)
    assert caught.value.field == field


def test_an_unpriceable_product_cannot_go_to_the_service() -> None:
    with pytest.raises(TranslationError) as caught:
        product_to_service(replace(OAK_CHAIR, currency="XYZ"))
    assert caught.value.field == "$.price.currency"
