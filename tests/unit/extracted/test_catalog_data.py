"""The catalog as a data-move target, on a real SQLite file: upserts, idempotence, refusals
by the catalog's own model, keyset reads, a database that is not there, and the sync's
versioned applies (the shared SyncTarget contract, deletes, no echo)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acl.data import Rejected, SyncTarget
from extracted.catalog.data import ProductTarget, product_from_row, products
from extracted.catalog.domain.model import Currency, Money, ProductStatus
from extracted.catalog.errors import InvalidProduct
from extracted.catalog.settings import DATABASE_ENV
from tests.support.row_targets import (
    SYNC_TARGET_CONTRACT,
    FakeLedger,
    SyncCase,
    assert_reading_an_absent_database_creates_nothing,
    assert_the_plugin_opens_the_database_named_by,
    changes_of,
    outbox_rows,
)


def row(sku: str = "SKU-00001", **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sku": sku,
        "name": "Oak Chair",
        "price": {"amount": "19.99", "currency": "EUR"},
        "stock": {"on_hand": 12},
        "status": "active",
        "updated_at": "2026-11-25T09:30:15.123456Z",
    }
    return base | changes


@pytest.fixture
def target(tmp_path: Path) -> Iterator[ProductTarget]:
    made = ProductTarget(f"sqlite:///{tmp_path / 'catalog.db'}")
    made.prepare()
    yield made
    made.close()


def test_a_row_keeps_its_updated_at_to_the_microsecond() -> None:
    product = product_from_row("SKU-00001", row())
    assert product.price == Money(1999, Currency.EUR)
    assert product.status is ProductStatus.ACTIVE
    assert product.updated_at.isoformat() == "2026-11-25T09:30:15.123456+00:00"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"updated_at": "2026-11-25T09:30:15"}, "updated_at"),
        ({"updated_at": 5}, "updated_at"),
        ({"sku": "OTHER"}, "sku"),
        ({"price": {"amount": "1.5", "currency": "EUR"}}, "price.amount"),
        ({"price": {"amount": "1.50", "currency": "JPY"}}, "price.currency"),
    ],
)
def test_a_row_the_catalog_model_refuses_names_the_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidProduct) as caught:
        product_from_row("SKU-00001", row(**changes))
    assert caught.value.field == field


def test_upserts_are_written_once_then_unchanged(target: ProductTarget) -> None:
    rows = [(f"SKU-{n:05d}", row(f"SKU-{n:05d}")) for n in range(1, 6)]
    assert target.upsert(rows).written == 5
    again = target.upsert(rows)
    assert (again.written, again.unchanged) == (0, 5)
    changed = target.upsert([("SKU-00002", row("SKU-00002", name="Walnut Chair"))])
    assert (changed.written, changed.unchanged) == (1, 0)
    assert target.count() == 5


def test_a_refused_row_is_rejected_by_key_and_the_batch_still_commits(
    target: ProductTarget,
) -> None:
    outcome = target.upsert(
        [
            ("SKU-00001", row("SKU-00001")),
            ("SKU-00002", row("SKU-00002", price={"amount": "1.00", "currency": "CHF"})),
        ]
    )
    assert outcome.written == 1
    assert outcome.rejected == (
        Rejected("SKU-00002", "price.currency", "currency must be one of EUR, GBP, USD, not 'CHF'"),
    )
    assert [key for key, _ in target.read(after=None, limit=10)] == ["SKU-00001"]


def test_reads_come_back_in_key_order_in_the_row_shape(target: ProductTarget) -> None:
    keys = ["b", "a", "B", "c-1", "c"]
    target.upsert([(k, row(k)) for k in keys])
    first = target.read(after=None, limit=3)
    assert [k for k, _ in first] == ["B", "a", "b"]  # code-point order
    assert [k for k, _ in target.read(after="b", limit=3)] == ["c", "c-1"]
    assert first[1][1] == row("a")


def test_reading_a_database_that_is_not_there_creates_nothing(tmp_path: Path) -> None:
    assert_reading_an_absent_database_creates_nothing(ProductTarget, tmp_path)


def test_the_plugin_uses_the_services_own_database_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_the_plugin_opens_the_database_named_by(
        DATABASE_ENV, products, tmp_path=tmp_path, monkeypatch=monkeypatch
    )


def test_a_batch_larger_than_one_in_list_is_still_compared_row_by_row(
    target: ProductTarget,
) -> None:
    rows = [(f"SKU-{n:05d}", row(f"SKU-{n:05d}")) for n in range(1200)]
    assert target.upsert(rows).written == 1200
    rows[1100] = ("SKU-01100", row("SKU-01100", name="Renamed"))
    again = target.upsert(rows)
    assert (again.written, again.unchanged) == (1, 1199)


# -- strangler data sync product-catalog: versioned applies, deletes -------------------------


def stored_rows(target: ProductTarget) -> dict[str, Any]:
    return dict(target.read(after=None, limit=1000))


@pytest.mark.parametrize("check", SYNC_TARGET_CONTRACT, ids=lambda check: check.__name__)
def test_the_catalog_keeps_the_sync_target_contract(
    check: Callable[[SyncCase], None], target: ProductTarget, tmp_path: Path
) -> None:
    assert isinstance(target, SyncTarget)
    check(
        SyncCase(
            target=target,
            database=tmp_path / "catalog.db",
            rows={sku: row(sku) for sku in ("SKU-00001", "SKU-00002", "SKU-00003")},
            changed=lambda old: {**old, "name": "Walnut Chair"},
            refused=("SKU-00009", row("SKU-00009", price={"amount": "1.00", "currency": "CHF"})),
            stored=lambda: stored_rows(target),
        )
    )


def test_an_admitted_delete_removes_the_product(target: ProductTarget) -> None:
    target.upsert([(k, row(k)) for k in ("SKU-00001", "SKU-00002")])
    applied = target.apply(changes_of({"SKU-00001": None, "SKU-00404": None}), ledger=FakeLedger())
    assert (applied.deleted, applied.unchanged) == (1, 1)  # a product not there: unchanged
    assert list(stored_rows(target)) == ["SKU-00002"]


def test_a_sync_apply_writes_nothing_to_the_catalogs_outbox(
    target: ProductTarget, tmp_path: Path
) -> None:
    target.upsert([("SKU-00001", row("SKU-00001"))])
    target.apply(changes_of({"SKU-00002": row("SKU-00002")}), ledger=FakeLedger())
    assert outbox_rows(tmp_path / "catalog.db") == []
