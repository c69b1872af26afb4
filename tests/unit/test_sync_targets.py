"""The relay test's log check (tests/support/sync_targets.py) catches what it is for: a state
written under a newer version than the one it was read at, though versions still increase."""

from __future__ import annotations

import json

from tests.support.sync_targets import not_as_captured, out_of_order


def payload(price: int) -> dict[str, object]:
    return {
        "sku": "SKU-1",
        "name": "Chair",
        "unit_price_cents": price,
        "currency": "EUR",
        "stock": 3,
        "active": 1,
        "updated_at": "2026-01-01 00:00:00",
    }


def written(price: str) -> str:
    row = {
        "sku": "SKU-1",
        "name": "Chair",
        "price": {"amount": price, "currency": "EUR"},
        "stock": {"on_hand": 3},
        "status": "active",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    return json.dumps(row)


CAPTURED = {
    ("SKU-1", 4): ("upsert", payload(1999)),
    ("SKU-1", 9): ("upsert", payload(2500)),
    ("SKU-1", 12): ("delete", {"sku": "SKU-1"}),
}


def test_each_version_written_with_the_state_of_its_seq_passes() -> None:
    lines = [f"SKU-1 e 4 {written('19.99')}", f"SKU-1 e 9 {written('25.00')}", "SKU-1 e 12 null"]
    assert out_of_order(lines) == []
    assert not_as_captured(lines, CAPTURED) == []


def test_a_stale_state_under_a_newer_label_is_caught_though_versions_increase() -> None:
    # the state of seq 4 (19.99) labelled 9: a fence that moved unnoticed
    lines = [f"SKU-1 e 4 {written('19.99')}", f"SKU-1 e 9 {written('19.99')}"]
    assert out_of_order(lines) == []
    [bad] = not_as_captured(lines, CAPTURED)
    assert bad.startswith("SKU-1@9: wrote")


def test_a_row_written_for_a_delete_or_an_unknown_seq_is_caught() -> None:
    lines = [f"SKU-1 e 12 {written('25.00')}", f"SKU-1 e 13 {written('25.00')}"]
    assert len(not_as_captured(lines, CAPTURED)) == 2
