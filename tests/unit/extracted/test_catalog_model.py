"""The catalog's model: money parsed and written with exactly the currency's minor units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extracted.catalog.domain.model import Currency, Money, Product, ProductStatus
from extracted.catalog.errors import InvalidProduct

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("currency", ["EUR", "GBP", "USD"])
@pytest.mark.parametrize(
    ("amount", "minor"),
    [("19.99", 1999), ("0.00", 0), ("0.05", 5), ("1200.00", 120000), ("10.10", 1010)],
)
def test_amounts_parse_to_minor_units_and_format_back(
    currency: str, amount: str, minor: int
) -> None:
    money = Money.parse(amount, currency)
    assert money == Money(minor, Currency(currency))
    assert money.amount == amount


@pytest.mark.parametrize(
    "amount",
    [
        "1.999",
        "1.9",
        "1",
        "-1.00",
        "+1.00",
        "01.00",
        "1e3",
        " 1.00",
        "1.00 ",
        "1,00",
        "",
        "NaN",
        "\u0661.\u0660\u0660",  # Arabic-Indic digits: int() takes them, the API does not
        19.99,
        19,
        True,
        None,
    ],
)
def test_amounts_that_are_not_exact_decimal_strings_are_rejected(amount: object) -> None:
    with pytest.raises(InvalidProduct) as caught:
        Money.parse(amount, "EUR")
    assert caught.value.field == "price.amount"


@pytest.mark.parametrize("currency", ["eur", "JPY", "", None, 978])
def test_unknown_currencies_are_rejected(currency: object) -> None:
    with pytest.raises(InvalidProduct) as caught:
        Money.parse("1.00", currency)
    assert caught.value.field == "price.currency"


@pytest.mark.parametrize("minor", [-1, 10**15 + 1, 1.5])
def test_money_holds_only_a_bounded_non_negative_integer(minor: object) -> None:
    with pytest.raises(InvalidProduct):
        Money(minor, Currency.EUR)  # type: ignore[arg-type]


@given(minor=st.integers(0, 10**15), currency=st.sampled_from(Currency))
def test_money_survives_a_round_trip_through_its_amount(minor: int, currency: Currency) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.amount, currency.value) == money


def _product(**changes: object) -> Product:
    fields: dict[str, object] = {
        "sku": "SKU-00001",
        "name": "Oak Chair",
        "price": Money(1999, Currency.EUR),
        "on_hand": 12,
        "status": ProductStatus.ACTIVE,
        "updated_at": NOW,
    }
    return Product(**(fields | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sku": ""}, "sku"),
        ({"sku": "SKU 1"}, "sku"),
        ({"sku": "a/b"}, "sku"),
        ({"sku": "S" * 65}, "sku"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"on_hand": -1}, "stock.on_hand"),
        ({"on_hand": True}, "stock.on_hand"),
        ({"on_hand": 1.0}, "stock.on_hand"),
        ({"status": "active"}, "status"),
        ({"updated_at": datetime(2026, 1, 1)}, "updated_at"),  # naive on purpose
    ],
)
def test_products_that_break_a_rule_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidProduct) as caught:
        _product(**changes)
    assert caught.value.field == field


def test_updated_at_is_kept_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    product = _product(updated_at=datetime(2026, 11, 25, 10, 30, tzinfo=paris))
    assert product.updated_at == NOW
    assert product.updated_at.tzinfo is UTC


def test_same_content_ignores_only_updated_at() -> None:
    assert _product().same_content(_product(updated_at=NOW + timedelta(days=1)))
    assert not _product().same_content(_product(on_hand=11))
