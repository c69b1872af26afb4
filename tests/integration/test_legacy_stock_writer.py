"""The way back into the monolith: ``legacy_monolith.data:stock_writer`` writes the inventory's
levels into ``catalog_product``'s counters, on a database built by the shop's own migrations,
in one transaction with the sync's ledger; it never deletes a product and never takes a sku
the monolith does not have; with capture installed, what it writes is not captured again for
the inventory (no echo) but still is for the catalog."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from acl.data import DataMoveError, Row, SyncTarget
from acl.inventory_rows import stock_row_to_legacy
from legacy_monolith.data import StockWriter, stock_writer
from strangler_sync import SqlLedger
from tests.support.row_targets import (
    SYNC_TARGET_CONTRACT,
    FakeLedger,
    SyncCase,
    changes_of,
    outbox_rows,
)
from tests.support.shop_sync import install_shop_capture, run_shop

pytestmark = pytest.mark.integration

SKUS = ("SKU-1", "SKU-2", "SKU-3")


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's schema, from its own migrations, with three products of 10 units."""
    database = tmp_path_factory.mktemp("shop") / "legacy.sqlite3"
    run_shop("migrate", "--noinput", env={"STRANGLER_LEGACY_DB": str(database)})
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.executemany(
            "INSERT INTO catalog_product (sku, name, unit_price_cents, currency, stock, "
            "reserved, active, updated_at, created_at) VALUES (?, 'Chair', 1999, 'EUR', 10, 0, "
            "1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            [(sku,) for sku in SKUS],
        )
    return database


@pytest.fixture
def database(migrated: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "legacy.sqlite3"
    with closing(sqlite3.connect(migrated)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)
    return copy


@pytest.fixture
def writer(database: Path) -> Iterator[StockWriter]:
    made = StockWriter(f"sqlite:///{database}")
    yield made
    made.close()


def counters(database: Path) -> dict[str, Row]:
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT sku, stock, reserved FROM catalog_product")
        return {sku: {"sku": sku, "stock": stock, "reserved": res} for sku, stock, res in rows}


def level(sku: str, on_hand: int, reserved: int) -> Row:
    """A service level, translated as the relay does on the way back."""
    service = {"sku": sku, "on_hand": on_hand, "reserved": reserved}
    return stock_row_to_legacy(service | {"available": on_hand - reserved})


@pytest.mark.parametrize("check", SYNC_TARGET_CONTRACT, ids=lambda check: check.__name__)
def test_the_stock_writer_keeps_the_sync_target_contract(
    check: Callable[[SyncCase], None], writer: StockWriter, database: Path
) -> None:
    assert isinstance(writer, SyncTarget)
    check(
        SyncCase(
            target=writer,
            database=database,
            rows={sku: level(sku, 12, n) for n, sku in enumerate(SKUS, start=1)},
            changed=lambda row: {**row, "reserved": int(str(row["reserved"])) + 1},
            refused=("SKU-404", level("SKU-404", 5, 1)),
            stored=lambda: counters(database),
        )
    )


def test_a_write_stamps_updated_at_as_the_shop_does(writer: StockWriter, database: Path) -> None:
    writer.apply(changes_of({"SKU-1": level("SKU-1", 12, 3)}), ledger=FakeLedger())
    with closing(sqlite3.connect(database)) as connection:
        stamps = dict(connection.execute("SELECT sku, updated_at FROM catalog_product"))
    assert stamps["SKU-2"] == "2026-01-01 00:00:00"
    assert stamps["SKU-1"] > "2026-01-01"  # Django's SQLite text: UTC, a space, no offset
    assert "+" not in stamps["SKU-1"]
    assert "T" not in stamps["SKU-1"]


def test_a_delete_is_refused_and_the_product_stays(writer: StockWriter, database: Path) -> None:
    ledger = FakeLedger()
    applied = writer.apply(changes_of({"SKU-1": None}), ledger=ledger)
    (rejected,) = applied.rejected
    assert (rejected.key, rejected.field) == ("SKU-1", "(row)")
    assert "never deletes" in rejected.reason
    assert ledger.calls == [[]]
    assert counters(database)["SKU-1"] == {"sku": "SKU-1", "stock": 10, "reserved": 0}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"sku": "SKU-1", "stock": 3, "reserved": 4}, "reserved"),
        ({"sku": "SKU-1", "stock": -1, "reserved": 0}, "stock"),
        ({"sku": "SKU-2", "stock": 3, "reserved": 0}, "sku"),
        ({"sku": "SKU-1", "stock": "3", "reserved": 0}, "stock"),
    ],
)
def test_counters_the_monolith_would_refuse_are_rejected_by_field(
    writer: StockWriter, database: Path, row: Row, field: str
) -> None:
    applied = writer.apply(changes_of({"SKU-1": row}), ledger=FakeLedger())
    assert [(r.key, r.field) for r in applied.rejected] == [("SKU-1", field)]
    assert counters(database)["SKU-1"] == {"sku": "SKU-1", "stock": 10, "reserved": 0}


def test_a_database_that_is_not_there_is_an_error_and_stays_absent(tmp_path: Path) -> None:
    absent = tmp_path / "absent.sqlite3"
    writer = StockWriter(f"sqlite:///{absent}")
    with pytest.raises(DataMoveError, match="does not exist"):
        writer.apply(changes_of({"SKU-1": level("SKU-1", 1, 0)}), ledger=FakeLedger())
    writer.close()
    assert not absent.exists()


def test_a_failed_write_names_the_database_without_its_password() -> None:
    # the message travels into the relay's last_error, heartbeat, status and the gate's text
    writer = StockWriter("postgresql+psycopg://u:secret@127.0.0.1:1/x")
    try:
        with pytest.raises(DataMoveError) as failed:
            writer.apply(changes_of({"SKU-1": level("SKU-1", 1, 0)}), ledger=FakeLedger())
    finally:
        writer.close()
    assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in str(failed.value)
    assert "secret" not in str(failed.value)


def test_a_non_postgresql_url_for_the_shop_is_refused_without_its_password() -> None:
    from legacy_monolith.shop.settings import _postgres

    with pytest.raises(ValueError, match="must be a postgresql URL") as refused:
        _postgres("mysql://u:secret@db:3306/shop")
    assert "secret" not in str(refused.value)
    assert "mysql://u:***@db:3306/shop" in str(refused.value)


def test_the_plugin_writes_to_the_shops_database(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRANGLER_LEGACY_DB", str(database))
    made = stock_writer()
    try:
        assert made.url == f"sqlite:///{database}"
        made.apply(changes_of({"SKU-3": level("SKU-3", 4, 4)}), ledger=FakeLedger())
    finally:
        made.close()
    assert counters(database)["SKU-3"] == {"sku": "SKU-3", "stock": 4, "reserved": 4}


# -- with the real ledger and capture installed: the way back is not captured again ----------


def install_capture(database: Path) -> None:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            install_shop_capture(connection)
    finally:
        engine.dispose()


def outbox(database: Path) -> list[tuple[str, str]]:
    return [(aggregate, key) for aggregate, key, _, _ in outbox_rows(database)]


def test_the_way_back_is_not_captured_again_but_the_catalog_still_sees_it(
    writer: StockWriter, database: Path
) -> None:
    install_capture(database)
    ledger = SqlLedger("inventory", "back")
    applied = writer.apply(changes_of({"SKU-1": level("SKU-1", 12, 3)}), ledger=ledger)
    assert applied.written == 1
    assert counters(database)["SKU-1"] == {"sku": "SKU-1", "stock": 12, "reserved": 3}
    # the inventory's own capture would send it forward again (an echo); the catalog's must
    # still carry the new stock to the catalog service
    assert outbox(database) == [("product-catalog", "SKU-1")]
    again = writer.apply(changes_of({"SKU-1": level("SKU-1", 12, 3)}), ledger=ledger)
    assert again.admission is not None
    assert (again.written, again.admission.stale) == (0, ("SKU-1",))
    # the monolith's own writes, on its own connections, are still captured for inventory
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("UPDATE catalog_product SET reserved = 1 WHERE sku = 'SKU-2'")
    assert outbox(database) == [("product-catalog", "SKU-1"), ("inventory", "SKU-2")]
