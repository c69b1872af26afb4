"""A row the relay cannot move is parked with its key, stage and reason while the rows
behind it flow; ``--retry-parked`` tries it again: exit 3 while it still fails, 0 once the
monolith's row is fixed. The real command on the shop's and the catalog's SQLite files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.sync_shop import SyncShop, seeded_monolith, sync_shop

PRODUCTS = 300
NEW = 700
POISON = "SKU-00007"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_monolith(tmp_path_factory.mktemp("shop"), products=PRODUCTS)


@pytest.fixture
def shop(tmp_path: Path, template: Path) -> SyncShop:
    shop = sync_shop(tmp_path, template, batch=200)
    for verb in (["capture", "product-catalog"], ["copy", "product-catalog"]):
        done = shop.run(*verb)
        assert done.returncode == 0, done.stderr
    return shop


def _forward(shop: SyncShop) -> dict[str, Any]:
    status = shop.run("status", "product-catalog", "--json")
    assert status.returncode == 0, status.stderr
    [forward] = json.loads(status.stdout)["capabilities"][0]["directions"]
    return dict(forward)


def test_a_poison_row_is_parked_while_the_rest_flows_and_retried_once_fixed(
    shop: SyncShop,
) -> None:
    shop.sql("UPDATE catalog_product SET unit_price_cents = unit_price_cents + 7")
    for n in range(NEW):
        shop.sql(
            "INSERT INTO catalog_product (sku, name, unit_price_cents, currency, stock, reserved,"
            " active, updated_at, created_at) VALUES (?, ?, 990, 'EUR', 3, 0, 1,"
            " '2026-05-02 10:11:12', '2026-05-02 10:11:12')",
            (f"NEW-{n:04d}", f"New thing {n}"),
        )
    shop.sql("UPDATE catalog_product SET currency = 'XYZ' WHERE sku = ?", (POISON,))

    drained = shop.run("sync", "product-catalog", "--once")

    assert drained.returncode == 0, drained.stderr
    forward = _forward(shop)
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

    shop.sql("UPDATE catalog_product SET currency = 'EUR' WHERE sku = ?", (POISON,))
    fixed = shop.run("sync", "product-catalog", "--retry-parked", "--key", POISON)

    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert _forward(shop)["parked"] == 0
    final = shop.run("verify", "product-catalog")
    assert final.returncode == 0, final.stdout + final.stderr
