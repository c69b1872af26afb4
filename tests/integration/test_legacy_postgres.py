"""The monolith on PostgreSQL (``$STRANGLER_LEGACY_DATABASE_URL``), for the data sync's
PostgreSQL runs: the shop's own migrations and seed build it, capture installs on it, and the
way back (``stock_writer``) writes its counters with the real ledger, not captured again for
the inventory (a transaction-local ``strangler.sync_origin``) but still for the catalog."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from acl.inventory_rows import stock_row_to_legacy
from legacy_monolith.data import StockWriter
from strangler_sync import SqlLedger
from tests.support import postgres
from tests.support.row_targets import changes_of
from tests.support.shop_sync import install_shop_capture, run_shop

pytestmark = pytest.mark.integration


def shop(url: str, *args: str) -> str:
    """``python -m legacy_monolith ARGS`` on the PostgreSQL database at ``url``."""
    return run_shop(*args, env={"STRANGLER_LEGACY_DATABASE_URL": url})


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    with postgres.running(database="shop") as server:
        shop(server.url, "migrate", "--noinput")
        shop(server.url, "seed", "--products", "5")
        yield server.url


def test_manage_py_installs_the_shops_capture_on_postgresql(shop_url: str, engine: Engine) -> None:
    installed = shop(shop_url, "strangler_capture", "install")
    assert "product-catalog: installed, epoch" in installed
    assert "inventory: installed, epoch" in installed
    assert shop(shop_url, "strangler_capture", "status", "inventory").startswith(
        "inventory: installed"
    )
    with engine.begin() as connection:
        connection.execute(text("UPDATE catalog_product SET name = 'Renamed' WHERE id = 1"))
        captured = connection.execute(
            text("SELECT aggregatetype FROM strangler_outbox ORDER BY seq DESC LIMIT 1")
        ).scalar_one()
    assert captured == "product-catalog"


@pytest.fixture
def engine(shop_url: str) -> Iterator[Engine]:
    made = create_engine(shop_url)
    yield made
    made.dispose()


def test_the_way_back_on_postgresql(shop_url: str, engine: Engine) -> None:
    with engine.begin() as connection:
        install_shop_capture(connection)
        sku, stock = connection.execute(
            text("SELECT sku, stock FROM catalog_product ORDER BY sku LIMIT 1")
        ).one()
        before = connection.execute(text("SELECT coalesce(max(seq), 0) FROM strangler_outbox"))
        first_new = before.scalar_one() + 1
    writer = StockWriter(shop_url)
    service_level = {"sku": sku, "on_hand": stock + 5, "reserved": 2, "available": stock + 3}
    try:
        ledger = SqlLedger("inventory", "back")
        change = changes_of({sku: stock_row_to_legacy(service_level)})
        applied = writer.apply(change, ledger=ledger)
        again = writer.apply(change, ledger=ledger)
    finally:
        writer.close()
    assert applied.written == 1
    assert again.admission is not None
    assert again.admission.stale == (sku,)
    with engine.connect() as connection:
        counters = connection.execute(
            text("SELECT stock, reserved FROM catalog_product WHERE sku = :s"), {"s": sku}
        ).one()
        captured = connection.execute(
            text(
                "SELECT aggregatetype FROM strangler_outbox"
                " WHERE aggregateid = :s AND seq >= :n ORDER BY seq"
            ),
            {"s": sku, "n": first_new},
        ).all()
    assert tuple(counters) == (stock + 5, 2)
    assert [row[0] for row in captured] == ["product-catalog"]


def test_the_seed_leaves_the_id_sequences_past_its_explicit_ids(engine: Engine) -> None:
    # the seed writes ids 1..n itself; a product added afterwards (the admin, a raw SQL batch
    # job, the sync tests' workload) takes the next id instead of colliding with id 1
    with engine.begin() as connection:
        newest = connection.execute(text("SELECT max(id) FROM catalog_product")).scalar_one()
        added = connection.execute(
            text(
                "INSERT INTO catalog_product (sku, name, unit_price_cents, currency, stock,"
                " reserved, active, updated_at, created_at) VALUES ('SEQ-1', 'Added', 100,"
                " 'EUR', 1, 0, true, now(), now()) RETURNING id"
            )
        ).scalar_one()
        connection.rollback()
    assert added > newest
