"""The demo's data sync plugins through the real command, both ways, on the real databases: the
shop's SQLite file (its own migrations and seed) and the services' (their own migrations).

Forward: a price or a counter changed behind the monolith's ORM (raw SQL) reaches the service.
Back: a reservation the service makes reaches the monolith's counters, is not captured again for
the inventory (no echo: the forward outbox stays empty), and ``data verify`` is clean."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from extracted.inventory.adapters.database import create_inventory_engine
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.services import PlaceReservation
from extracted.inventory.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from tests.support.shop_sync import run_shop
from tests.support.sync_shop import inventory_data

pytestmark = pytest.mark.e2e
STRANGLER = str(Path(sys.executable).parent / "strangler")

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:9"}
services:
  inventory: {url: "http://127.0.0.1:9"}
  catalog: {url: "http://127.0.0.1:9"}
capabilities:
  product-catalog:
    match: [{methods: [GET], path: "/api/products/{sku}"}]
    service: catalog
    mode: shadow
    data:
      source: legacy_monolith.data:products
      translate: acl.catalog_rows:product_row_from_legacy
      target: extracted.catalog.data:products
      sync: {capture: "legacy_monolith.data:product_capture", key_param: sku}
  inventory:
    match: [{methods: [GET], path: "/api/inventory/{sku}"}]
    service: inventory
    mode: canary
""" + inventory_data(sync=["key_param: sku"])


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """routes.yaml beside the shop's migrated and seeded database."""
    env = {"STRANGLER_LEGACY_DB": str(tmp_path / "legacy.sqlite3")}
    run_shop("migrate", "--noinput", env=env)
    run_shop("seed", "--products", "12", "--orders", "0", env=env)
    (tmp_path / "routes.yaml").write_text(ROUTES)
    return tmp_path


def environment(place: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"} | {
        "STRANGLER_LEGACY_DB": str(place / "legacy.sqlite3"),
        "STRANGLER_INVENTORY_DB": f"sqlite:///{place / 'inventory.db'}",
        "STRANGLER_CATALOG_DB": f"sqlite:///{place / 'catalog.db'}",
    }


def data(place: Path, *args: str, code: int = 0) -> str:
    done = subprocess.run(
        [STRANGLER, "--routes", str(place / "routes.yaml"), "data", *args],
        cwd=place,
        env=environment(place),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def monolith(place: Path, statement: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(place / "legacy.sqlite3")) as db, db:
        return db.execute(statement).fetchall()


def service_level(place: Path, sku: str) -> tuple[int, int]:
    with closing(sqlite3.connect(place / "inventory.db")) as db:
        return db.execute(
            "SELECT on_hand, reserved FROM stock_levels WHERE sku = ?", (sku,)
        ).fetchone()


def test_both_ways_through_the_command(place: Path) -> None:
    data(place, "copy", "inventory")
    data(place, "capture", "inventory")
    ((sku, stock),) = monolith(place, "SELECT sku, stock FROM catalog_product ORDER BY sku LIMIT 1")

    # forward: a write behind the ORM's back is captured and carried
    monolith(place, f"UPDATE catalog_product SET stock = {stock + 7} WHERE sku = '{sku}'")
    data(place, "sync", "inventory", "--once", "--direction", "forward")
    assert service_level(place, sku) == (stock + 7, 0)

    # back: the service's own reservation, recorded in its outbox, reaches the monolith
    engine = create_inventory_engine(f"sqlite:///{place / 'inventory.db'}")
    try:
        services.reservation_place(SqlAlchemyUnitOfWork(engine), PlaceReservation(sku, 3, "k1"))
    finally:
        engine.dispose()
    data(place, "sync", "inventory", "--once", "--direction", "back")
    assert monolith(place, f"SELECT stock, reserved FROM catalog_product WHERE sku = '{sku}'") == [
        (stock + 7, 3)
    ]
    # no echo: what the way back wrote is not pending for the way there
    pending = monolith(
        place,
        "SELECT count(*) FROM strangler_outbox WHERE aggregatetype = 'inventory'"
        " AND applied_at IS NULL AND parked_at IS NULL",
    )
    assert pending == [(0,)]
    verified = json.loads(data(place, "verify", "inventory", "--json"))
    assert verified["equal"] is True


def test_a_price_changed_in_the_monolith_reaches_the_catalog(place: Path) -> None:
    data(place, "copy", "product-catalog")
    data(place, "capture", "product-catalog")
    ((sku, price),) = monolith(
        place, "SELECT sku, unit_price_cents FROM catalog_product ORDER BY sku LIMIT 1"
    )
    monolith(
        place, f"UPDATE catalog_product SET unit_price_cents = {price + 100} WHERE sku = '{sku}'"
    )
    data(place, "sync", "product-catalog", "--once")
    with closing(sqlite3.connect(place / "catalog.db")) as db:
        stored = db.execute("SELECT price_minor FROM products WHERE sku = ?", (sku,)).fetchone()
    assert stored == (price + 100,)
    assert json.loads(data(place, "verify", "product-catalog", "--json"))["equal"] is True
