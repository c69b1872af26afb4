"""The inventory data move's row translator: the monolith's stock counters -> a stock level."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acl.errors import TranslationError
from acl.inventory import stock_from_service
from acl.inventory_rows import stock_from_legacy_row, stock_row_from_legacy


def legacy_row(**changes: object) -> dict[str, Any]:
    return {"sku": "SKU-00001", "stock": 12, "reserved": 2} | changes


def test_the_counters_become_the_inventory_v1_stock_level_without_its_timestamp() -> None:
    assert stock_row_from_legacy(legacy_row()) == {
        "sku": "SKU-00001",
        "on_hand": 12,
        "reserved": 2,
        "available": 10,
    }


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"stock": "lots"}, "stock", "not an integer"),
        ({"stock": -1}, "stock", "below 0"),
        ({"reserved": -1}, "reserved", "below 0"),
        ({"reserved": 13}, "reserved", "more than on hand (12)"),
        ({"sku": None}, "sku", "not a string"),
    ],
)
def test_bad_counters_are_a_translation_error_naming_the_column(
    changes: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        stock_row_from_legacy(legacy_row(**changes))
    assert (caught.value.field, caught.value.reason) == (field, reason)


@given(st.integers(0, 10**9).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_the_service_row_reads_back_as_the_same_level(counts: tuple[int, int]) -> None:
    stock, reserved = counts
    row = legacy_row(stock=stock, reserved=reserved)
    assert stock_from_service(stock_row_from_legacy(row)) == stock_from_legacy_row(row)
