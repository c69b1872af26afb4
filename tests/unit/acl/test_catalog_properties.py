"""Round-trip properties of the product translators (hypothesis).

The properties, precisely:

1. service -> domain is lossless: ``product_from_service(product_to_service(p)) == p`` for every
   product (any UTC instant, microseconds included), also through JSON text.
2. legacy -> domain -> legacy is the identity, key order included:
   ``product_to_legacy(product_from_legacy(raw)) == raw`` for every well-formed legacy product.
3. domain -> legacy -> domain keeps everything but the time of day: ``last_upd`` holds only the
   Europe/Paris date, which reads back as local midnight. So the round trip is the identity
   exactly for products updated at local midnight, and otherwise moves ``updated_at`` to the
   local midnight of the same local date.
4. Money: ``amount_to_minor(minor_to_amount(m, c), c) == m`` for every known currency.
5. The HTTP translator: a service list answer becomes the legacy page of the same products,
   and no service answer whatsoever (any status, any JSON, any bytes) escapes as anything but
   a legacy answer or a TranslationError.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from acl.catalog import (
    MINOR_UNITS,
    PARIS,
    Product,
    Products,
    amount_to_minor,
    local_midnight,
    minor_to_amount,
    product_from_legacy,
    product_from_service,
    product_to_legacy,
    product_to_service,
)
from acl.errors import TranslationError
from acl.http import HttpRequestData, HttpResponseData

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=PARIS)
currencies = st.sampled_from(sorted(MINOR_UNITS))
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 12, 30), timezones=st.just(UTC)
)
local_midnights = (
    st.dates(min_value=datetime(1970, 1, 2).date())
    .filter(lambda d: d.year <= 2200)
    .map(local_midnight)
)


def products(updated_at: st.SearchStrategy[datetime] = instants) -> st.SearchStrategy[Product]:
    return st.builds(
        Product,
        sku=st.text(min_size=1, max_size=32),
        name=st.text(max_size=200),
        price_minor=st.integers(min_value=0, max_value=10**15),
        currency=currencies,
        on_hand=st.integers(min_value=-(10**9), max_value=10**9),
        active=st.booleans(),
        updated_at=updated_at,
    )


@given(products())
def test_a_product_survives_the_service_round_trip(product: Product) -> None:
    assert product_from_service(product_to_service(product)) == product
    assert product_from_service(json.loads(json.dumps(product_to_service(product)))) == product


@given(products())
def test_a_legacy_product_survives_legacy_to_domain_to_legacy(product: Product) -> None:
    raw = product_to_legacy(product)  # any well-formed legacy product is one of these
    again = product_to_legacy(product_from_legacy(raw))
    assert list(again.items()) == list(raw.items())


@given(products(updated_at=local_midnights))
def test_a_product_updated_at_local_midnight_survives_the_legacy_round_trip(
    product: Product,
) -> None:
    assert product_from_legacy(product_to_legacy(product)) == product


@given(products())
def test_the_legacy_round_trip_keeps_the_local_date_and_drops_the_time(product: Product) -> None:
    back = product_from_legacy(product_to_legacy(product))
    local_day = product.updated_at.astimezone(PARIS).date()
    assert back == replace(product, updated_at=local_midnight(local_day))
    assert timedelta(0) <= product.updated_at - back.updated_at < timedelta(hours=25)


@given(st.integers(min_value=0, max_value=10**18), currencies)
def test_money_survives_the_amount_round_trip(minor: int, currency: str) -> None:
    amount = minor_to_amount(minor, currency)
    assert amount_to_minor(amount, currency) == minor
    assert len(amount.partition(".")[2]) == MINOR_UNITS[currency]


@given(st.lists(products(), max_size=5), st.integers(1, 10**6), st.integers(1, 200))
def test_a_service_page_becomes_the_legacy_page_of_the_same_products(
    items: list[Product], number: int, size: int
) -> None:
    answer = {
        "items": [product_to_service(p) for p in items],
        "page": {"number": number, "size": size, "total_items": len(items)},
    }
    legacy = Products(clock=lambda: NOW).response_to_legacy(
        HttpRequestData("GET", "/api/products"),
        HttpResponseData(200, body=json.dumps(answer).encode()),
    )
    body = json.loads(legacy.body)
    assert body["products"] == [product_to_legacy(p) for p in items]
    assert (body["count"], body["page"], body["per_page"]) == (len(items), number, size)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[object]:
    """A valid service product or page with one field replaced by any JSON value."""
    good = product_to_service(
        Product("SKU-1", "Oak", 1999, "EUR", 1, True, datetime(2026, 1, 1, tzinfo=UTC))
    )

    def mutate(pair: tuple[str, object]) -> object:
        key, value = pair
        return {**good, key: value}

    return st.tuples(st.sampled_from([*good, "price", "stock"]), json_values).map(mutate)


@given(
    st.sampled_from(["/api/products", "/api/products/SKU-1"]),
    st.sampled_from([200, 201, 204, 301, 400, 401, 404, 409, 429, 500, 502, 503]),
    st.one_of(
        st.binary(max_size=64),
        json_values.map(lambda v: json.dumps(v).encode()),
        _mutations().map(lambda v: json.dumps(v).encode()),
        _mutations().map(lambda v: json.dumps({"items": [v], "page": {}}).encode()),
    ),
)
def test_no_service_answer_crashes_the_translator(path: str, status: int, body: bytes) -> None:
    translator = Products(clock=lambda: NOW)
    outcome: HttpResponseData | TranslationError
    try:
        outcome = translator.response_to_legacy(
            HttpRequestData("GET", path), HttpResponseData(status, body=body)
        )
    except TranslationError as exc:
        outcome = exc
    if isinstance(outcome, TranslationError):
        assert outcome.field
    else:
        assert json.loads(outcome.body)["result"] in ("ok", "error")
