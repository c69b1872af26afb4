"""The monolith on PostgreSQL (``$STRANGLER_LEGACY_DATABASE_URL``), for the data sync's
PostgreSQL runs: the shop's own migrations and seed build it, capture installs on it, and the
way back (``stock_writer``) writes its counters with the real ledger, not captured again for
the inventory (a transaction-local ``strangler.sync_origin``) but still for the catalog."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from acl.inventory_rows import stock_row_to_legacy
from legacy_monolith.data import StockWriter
from strangler_sync import SqlLedger
from tests.support import postgres
from tests.support.row_targets import changes_of
from tests.support.shop_sync import install_shop_capture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    with postgres.running(database="shop") as server:
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env |= {"STRANGLER_LEGACY_DATABASE_URL": server.url}
        for step in (["migrate", "--noinput"], ["seed", "--products", "5"]):
            subprocess.run(
                [sys.executable, "-m", "legacy_monolith", *step],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                timeout=180,
            )
        yield server.url


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
            text("SELECT aggregatetype FROM strangler_outbox WHERE aggregateid = :s ORDER BY seq"),
            {"s": sku},
        ).all()
    assert tuple(counters) == (stock + 5, 2)
    assert [row[0] for row in captured] == ["product-catalog"]
