"""Round-trip properties of the inventory translators (hypothesis).

1. legacy -> domain -> legacy is the identity, key order included, for every consistent
   legacy stock level; service -> domain -> service likewise (``updated_at`` aside: the legacy
   model has no such field, and the service sets it itself).
2. domain -> either model -> domain is lossless.
3. A legacy reservation body is either refused with the monolith's message or its ``qty``
   reaches the service unchanged.
4. No service answer whatsoever (any status, any JSON, any bytes) escapes the translator as
   anything but a legacy answer or a TranslationError.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from acl.errors import TranslationError
from acl.http import HttpRequestData, HttpResponseData
from acl.inventory import (
    Stock,
    StockLevel,
    legacy_reserve_problem,
    stock_from_legacy,
    stock_from_service,
    stock_to_legacy,
    stock_to_service,
)

skus = st.text(min_size=1, max_size=64)
counts = st.integers(min_value=0, max_value=2**62)


@st.composite
def levels(draw: st.DrawFn) -> StockLevel:
    on_hand = draw(counts)
    return StockLevel(draw(skus), on_hand, draw(st.integers(min_value=0, max_value=on_hand)))


@given(levels())
def test_domain_survives_both_models(level: StockLevel) -> None:
    assert stock_from_legacy(stock_to_legacy(level)) == level
    assert stock_from_service(stock_to_service(level)) == level
    # through JSON text too: nothing depends on Python-only values
    assert stock_from_service(json.loads(json.dumps(stock_to_service(level)))) == level


@given(levels())
def test_legacy_and_service_shapes_round_trip(level: StockLevel) -> None:
    legacy = stock_to_legacy(level)
    assert list(stock_to_legacy(stock_from_legacy(legacy)).items()) == list(legacy.items())
    service = stock_to_service(level)
    assert stock_to_service(stock_from_service(service)) == service


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
bodies = st.one_of(
    st.binary(max_size=40),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["qty", "x"]), json_values).map(
        lambda v: json.dumps(v).encode()
    ),
)


@given(bodies)
def test_a_reservation_body_is_refused_or_its_qty_passes_unchanged(body: bytes) -> None:
    translator = Stock(new_key=lambda: "k")
    req = HttpRequestData("POST", "/api/inventory/SKU-1/reserve", (), (), body)
    wanted = translator.request_to_service(req)
    if legacy_reserve_problem(body) is None:
        assert wanted.method == "POST"
        assert json.loads(wanted.body)["quantity"] == json.loads(body)["qty"]
    else:
        assert (wanted.method, wanted.body) == ("GET", b"")


service_bodies = st.one_of(
    st.binary(max_size=60),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "sku": st.sampled_from(["SKU-1", "SKU-2"]) | json_values,
            "on_hand": json_values | counts,
            "reserved": json_values | counts,
            "available": json_values | counts,
            "reservation": json_values,
            "stock": json_values,
            "error": json_values
            | st.fixed_dictionaries(
                {"code": st.sampled_from(["stock_not_found", "insufficient_stock", "x"])},
                optional={"details": json_values},
            ),
        },
    ).map(lambda v: json.dumps(v).encode()),
)


@given(
    st.sampled_from(["/api/inventory/SKU-1", "/api/inventory/SKU-1/reserve"]),
    st.sampled_from([b"", b'{"qty": 2}', b'{"qty": 0}']),
    st.integers(min_value=100, max_value=599),
    service_bodies,
)
def test_every_service_answer_is_a_legacy_answer_or_a_translation_error(
    path: str, body: bytes, status: int, service_body: bytes
) -> None:
    req = HttpRequestData("POST" if path.endswith("reserve") else "GET", path, (), (), body)
    try:
        answer = Stock().response_to_legacy(req, HttpResponseData(status, (), service_body))
    except TranslationError as exc:
        failure: TranslationError = exc
    else:
        parsed = json.loads(answer.body)
        assert parsed["result"] in ("ok", "error")
        assert answer.status in (200, 400, 404, 409)
        return
    assert failure.field  # a failure always names where
