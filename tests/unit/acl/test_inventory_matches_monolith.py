"""The translator's copy of the monolith's reservation rules agrees with the monolith itself:
every body below is sent to the real view (Django's test client), and the 400 message the
monolith answers is the one ``legacy_reserve_problem`` predicts (None when it accepts it)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from acl.inventory import legacy_reserve_problem
from legacy_monolith.catalog.models import Product as ProductRow

pytestmark = pytest.mark.django_db

BODIES = [
    b"",
    b"   ",
    b"not json",
    b"\xff\xfe",
    b"[1]",
    b'"qty"',
    b"{}",
    b'{"qty": null}',
    b'{"qty": "2"}',
    b'{"qty": true}',
    b'{"qty": 1.0}',
    b'{"qty": 0}',
    b'{"qty": -3}',
    b'{"qty": 1}',
    b'{"qty": 2, "other": 1}',
]


@pytest.mark.parametrize("body", BODIES)
def test_the_monolith_refuses_exactly_what_the_translator_predicts(body: bytes) -> None:
    ProductRow.objects.create(sku="SKU-1", name="Chair", unit_price_cents=100, stock=50)
    response = Client().post(
        "/api/inventory/SKU-1/reserve", data=body, content_type="application/json"
    )
    expected = legacy_reserve_problem(body)
    if expected is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert json.loads(response.content)["errMsg"] == expected
