"""A row the relay cannot move is parked with its key, stage and reason while the rows
behind it flow; ``--retry-parked`` tries it again: exit 3 while it still fails, 0 once the
monolith's row is fixed. The real command on the shop's and the catalog's SQLite files."""

from __future__ import annotations

import json
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.probe import wait_until
from tests.support.sync_shop import SyncShop, captured_and_copied, seeded_monolith

PRODUCTS = 300
NEW = 700
POISON = "SKU-00007"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_monolith(tmp_path_factory.mktemp("shop"), products=PRODUCTS)


@pytest.fixture
def shop(tmp_path: Path, template: Path) -> SyncShop:
    return captured_and_copied(tmp_path, template, batch=200)


def test_a_poison_row_is_parked_while_the_rest_flows_and_retried_once_fixed(
    shop: SyncShop,
) -> None:
    shop.sql("UPDATE catalog_product SET unit_price_cents = unit_price_cents + 7")
    shop.sql(
        "INSERT INTO catalog_product (sku, name, unit_price_cents, currency, stock, reserved,"
        " active, updated_at, created_at) VALUES (:sku, :name, 990, 'EUR', 3, 0, 1,"
        " '2026-05-02 10:11:12', '2026-05-02 10:11:12')",
        [{"sku": f"NEW-{n:04d}", "name": f"New thing {n}"} for n in range(NEW)],
    )
    shop.sql("UPDATE catalog_product SET currency = 'XYZ' WHERE sku = :sku", {"sku": POISON})

    drained = shop.run("sync", "product-catalog", "--once")

    assert drained.returncode == 0, drained.stderr
    forward = shop.forward()
    # its entries (the price change read as the poisoned state, then the poisoning) wait
    assert forward["pending"] == 0
    assert forward["parked"] == len(forward["parked_rows"]) == 2
    assert {(p["key"], p["stage"], p["field"]) for p in forward["parked_rows"]} == {
        (POISON, "translate", "currency")
    }
    verified = json.loads(shop.run("verify", "product-catalog", "--json").stdout)
    # everything but the poison arrived: its old price is still in the service
    assert (verified["missing"], verified["extra"], verified["untranslatable"]) == (0, 0, 1)
    assert verified["matched"] == PRODUCTS + NEW - 1

    again = shop.run("sync", "product-catalog", "--retry-parked")

    assert again.returncode == 3, again.stdout + again.stderr
    assert POISON in again.stdout

    shop.sql("UPDATE catalog_product SET currency = 'EUR' WHERE sku = :sku", {"sku": POISON})
    fixed = shop.run("sync", "product-catalog", "--retry-parked", "--key", POISON)

    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert shop.forward()["parked"] == 0
    final = shop.run("verify", "product-catalog")
    assert final.returncode == 0, final.stdout + final.stderr


def test_a_locked_service_database_is_waited_out_with_one_log_line_and_nothing_lost(
    shop: SyncShop,
) -> None:
    log = shop.dir / "relay.log"
    relay = shop.popen("sync", "product-catalog", log=log)
    try:
        wait_until(lambda: ": following" in log.read_text(), "the relay follows", timeout=60)
        # another writer holds the catalog's write lock longer than its busy timeout (5 s)
        with closing(sqlite3.connect(shop.catalog, isolation_level=None)) as holder:
            holder.execute("BEGIN EXCLUSIVE")
            shop.sql("UPDATE catalog_product SET unit_price_cents = unit_price_cents + 3")
            wait_until(
                lambda: "retrying with back-off" in log.read_text(),
                "the relay backs off",
                timeout=60,
            )
            holder.execute("ROLLBACK")
        wait_until(lambda: "working again" in log.read_text(), "the relay resumes", timeout=90)
        wait_until(lambda: shop.forward()["pending"] == 0, "the relay drains", timeout=60)
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=60) == 0, log.read_text()
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait(timeout=30)
    text = log.read_text()
    assert text.count("retrying with back-off") == 1, text  # once per 30 s, with a count
    assert "locked" in text
    assert shop.forward()["parked"] == 0
    final = shop.run("verify", "product-catalog")
    assert final.returncode == 0, final.stdout + final.stderr


BROKEN = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}
capabilities:
  product-catalog:
    match: [{methods: [GET], path: "/api/products/{sku}"}]
    data:
      source: legacy_monolith.data:products
      translate: acl.catalog_rows:product_row_from_legacy
      target: extracted.catalog.data:products
      sync:
        capture: legacy_monolith.data:no_such_capture
  orders:
    match: [{path: /api/orders}]
    data:
      source: legacy_monolith.data:products
      translate: acl.catalog_rows:product_row_from_legacy
      target: extracted.catalog.data:products
"""


@pytest.mark.parametrize(
    ("args", "line", "says"),
    [
        (["sync", "orders"], 14, "has no 'sync:' section"),
        (["sync", "product-catalog"], 11, "legacy_monolith.data has no no_such_capture"),
        (["sync", "product-catalog", "--direction", "back"], 10, "no 'back:' section"),
        (["capture", "product-catalog"], 11, "no_such_capture"),
    ],
)
def test_a_sync_routes_yaml_cannot_run_exits_2_naming_file_and_line(
    tmp_path: Path, args: list[str], line: int, says: str
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(BROKEN)
    shop = SyncShop(tmp_path, "sqlite:///l.db", "sqlite:///c.db", routes, tmp_path / "a.log")

    done = shop.run(*args, timeout=60)

    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{routes}:{line}: " in done.stderr
    assert says in done.stderr
