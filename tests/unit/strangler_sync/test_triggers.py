"""The generated capture SQL: names PostgreSQL keeps whole, the WHEN that skips equal
rewrites, and the payload options."""

from __future__ import annotations

import pytest

from strangler_sync import CapturedTable, CaptureError, CaptureSpec
from strangler_sync.triggers import create_triggers, drop_triggers, spec_hash, trigger_names
from tests.unit.strangler_sync.conftest import INVENTORY


def test_sqlite_triggers_fire_on_the_captured_columns_only_when_they_change() -> None:
    statements = create_triggers(INVENTORY, "sqlite")
    (update,) = [s for s in statements if s.startswith("CREATE TRIGGER") and "__upd" in s]
    assert "AFTER UPDATE OF sku, stock, reserved ON catalog_product" in update
    assert "WHEN OLD.sku IS NOT NEW.sku OR OLD.stock IS NOT NEW.stock" in update
    assert "WHERE OLD.sku IS NOT NEW.sku" in update  # the rename's delete row
    assert "AUTOINCREMENT" not in "".join(statements)


def test_postgres_has_one_function_and_two_triggers_per_table() -> None:
    statements = create_triggers(INVENTORY, "postgresql")
    assert sum(s.startswith("CREATE OR REPLACE FUNCTION") for s in statements) == 1
    assert sum(s.startswith("CREATE TRIGGER") for s in statements) == 2
    assert "current_setting('strangler.sync_origin', true)" in statements[0]
    assert "WHEN (OLD.sku IS DISTINCT FROM NEW.sku" in statements[-1]
    assert drop_triggers(INVENTORY, "postgresql")[-1] == (
        "DROP FUNCTION IF EXISTS strangler__inventory__catalog_product()"
    )


def test_a_key_payload_carries_the_key_alone() -> None:
    keyed = CaptureSpec("inventory", INVENTORY.tables, payload="key")
    (insert,) = [s for s in create_triggers(keyed, "sqlite") if "__ins AFTER INSERT" in s]
    assert "json_object('sku', NEW.sku)" in insert
    assert spec_hash(keyed) != spec_hash(INVENTORY)


def test_long_names_are_shortened_to_what_postgres_keeps_and_stay_distinct() -> None:
    long = "a" * 50
    spec = CaptureSpec(
        "x" * 60,
        (CapturedTable(long + "_one", "k", ("k",)), CapturedTable(long + "_two", "k", ("k",))),
    )
    names = trigger_names(spec, "postgresql")
    assert all(len(name) <= 63 for name in names)
    assert len(set(names)) == len(names) == 4


@pytest.mark.parametrize(
    ("capability", "table", "columns"),
    [
        ("inventory", "catalog_product; DROP TABLE x", ("sku",)),
        ("inventory", "catalog_product", ("sku", "stock'")),
        ("Inventory'", "catalog_product", ("sku",)),
    ],
)
def test_names_that_are_not_plain_identifiers_are_refused(
    capability: str, table: str, columns: tuple[str, ...]
) -> None:
    with pytest.raises(CaptureError):
        CaptureSpec(capability, (CapturedTable(table, "sku", columns),))
