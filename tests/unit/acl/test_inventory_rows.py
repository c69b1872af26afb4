"""The inventory data move's row translator: the monolith's stock counters -> a stock level."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acl.errors import TranslationError
from acl.inventory import stock_from_service
from acl.inventory_rows import stock_from_legacy_row, stock_row_from_legacy, stock_row_to_legacy


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


def service_row(**changes: object) -> dict[str, Any]:
    return {"sku": "SKU-00001", "on_hand": 12, "reserved": 2, "available": 10} | changes


def test_a_service_level_becomes_the_monoliths_counters() -> None:
    assert stock_row_to_legacy(service_row()) == {"sku": "SKU-00001", "stock": 12, "reserved": 2}


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"on_hand": "lots"}, "on_hand", "not an integer"),
        ({"on_hand": True}, "on_hand", "not an integer"),
        ({"reserved": -1}, "reserved", "below 0"),
        ({"reserved": 13}, "reserved", "more than on hand (12)"),
        ({"sku": 7}, "sku", "not a string"),
    ],
)
def test_a_bad_service_level_is_a_translation_error_naming_its_column(
    changes: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        stock_row_to_legacy(service_row(**changes))
    assert (caught.value.field, caught.value.reason) == (field, reason)


SKUS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
COUNTS = st.integers(0, 2**62).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))


@given(SKUS, COUNTS)
def test_the_counters_survive_the_way_there_and_back(sku: str, counts: tuple[int, int]) -> None:
    stock, reserved = counts
    legacy = {"sku": sku, "stock": stock, "reserved": reserved}
    assert stock_row_to_legacy(stock_row_from_legacy(legacy)) == legacy


@given(SKUS, COUNTS)
def test_a_service_level_survives_the_way_back_and_there(sku: str, counts: tuple[int, int]) -> None:
    on_hand, reserved = counts
    level = service_row(sku=sku, on_hand=on_hand, reserved=reserved, available=on_hand - reserved)
    assert stock_row_from_legacy(stock_row_to_legacy(level)) == level
