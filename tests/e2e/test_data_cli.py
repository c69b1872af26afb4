"""``strangler data copy|verify`` as a user runs them: the real command, the real monolith's
SQLite database (migrated and seeded by ``python -m legacy_monolith``), and the catalog
service's own database, created by its migrations and then served by the real service."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acl.catalog import product_from_service, product_to_legacy
from acl.inventory import stock_from_service, stock_to_legacy
from extracted.catalog.adapters.database import create_catalog_engine, migrate
from tests.support import processes

pytestmark = pytest.mark.e2e
STRANGLER = str(Path(sys.executable).parent / "strangler")
PRODUCTS = 120
BATCH = 25

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}
services:
  catalog: {url: "http://127.0.0.1:8101"}
capabilities:
  product-catalog:
    match: [{methods: [GET], path: "/api/products/{sku}"}]
    service: catalog
    data:
      source: legacy_monolith.data:products
      translate: acl.catalog_rows:product_row_from_legacy
      target: extracted.catalog.data:products
      batch_size: 25
  orders:
    match: [{path: /api/orders}]
  inventory:
    match: [{methods: [GET], path: "/api/inventory/{sku}"}]
    data:
      source: legacy_monolith.data:stock
      translate: acl.inventory_rows:stock_row_from_legacy
      target: extracted.inventory.data:stock
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Running]:
    """The monolith under gunicorn on its seeded database, left untouched by the tests."""
    state = tmp_path_factory.mktemp("shop")
    running = processes.monolith(
        state,
        log_dir=state,
        seed_args=["--products", str(PRODUCTS), "--customers", "5", "--orders", "5"],
    )
    yield running
    running.stop()


@pytest.fixture
def setup(tmp_path: Path, shop: processes.Running) -> dict[str, Any]:
    """A routes file, a private copy of the shop's database and an empty catalog database."""
    legacy = tmp_path / "legacy.sqlite3"
    with sqlite3.connect(_shop_db(shop)) as src, sqlite3.connect(legacy) as dst:
        src.backup(dst)  # consistent even with WAL, unlike copying the file
    catalog = tmp_path / "catalog.db"
    engine = create_catalog_engine(f"sqlite:///{catalog}")
    migrate(engine)
    engine.dispose()
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    return {"routes": routes, "legacy": legacy, "catalog": catalog, "dir": tmp_path}


def _shop_db(shop: processes.Running) -> Path:
    # processes.monolith keeps the database and the log in the same state directory
    return shop.log_path.parent / "legacy.sqlite3"


def environment(setup: dict[str, Any], **env: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"} | {
        "STRANGLER_LEGACY_DB": str(setup["legacy"]),
        "STRANGLER_CATALOG_DB": f"sqlite:///{setup['catalog']}",
        "STRANGLER_INVENTORY_DB": f"sqlite:///{setup['dir'] / 'inventory.db'}",
        **env,
    }


def run(setup: dict[str, Any], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, "--routes", str(setup["routes"]), "data", *args],
        cwd=setup["dir"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(setup, **env),
        check=False,
    )


def run_json(setup: dict[str, Any], *args: str, code: int) -> dict[str, Any]:
    result = run(setup, *args, "--json")
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def sql(path: Path, statement: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(statement)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_copy_then_verify_is_equal_a_second_copy_changes_nothing_and_the_service_serves_it(
    setup: dict[str, Any], shop: processes.Running
) -> None:
    before = run_json(setup, "verify", "product-catalog", code=3)
    assert (before["legacy_rows"], before["service_rows"], before["missing"]) == (
        PRODUCTS,
        0,
        PRODUCTS,
    )
    assert before["missing_keys"][:2] == ["SKU-00001", "SKU-00002"]

    first = run_json(setup, "copy", "product-catalog", code=0)
    assert first["complete"]
    assert (first["read"], first["written"], first["unchanged"], first["skipped"]) == (
        PRODUCTS,
        PRODUCTS,
        0,
        [],
    )
    assert first["batches"] == -(-PRODUCTS // BATCH)

    after = run_json(setup, "verify", "product-catalog", code=0)
    assert after["equal"]
    assert (after["matched"], after["service_rows"]) == (PRODUCTS, PRODUCTS)

    second = run(setup, "copy", "product-catalog")
    assert second.returncode == 0, second.stderr
    assert f"{PRODUCTS} rows in 5 batches" in second.stdout
    assert f"0 written, {PRODUCTS} unchanged, 0 skipped" in second.stdout

    # the service, started on the copied database, answers what the monolith answers
    port = processes.free_port()
    catalog = processes.start(
        "catalog",
        [sys.executable, "-m", "extracted.catalog", "--port", str(port)],
        port=port,
        log_dir=setup["dir"],
        ready_path="/healthz",
        env={"STRANGLER_CATALOG_DB": f"sqlite:///{setup['catalog']}"},
    )
    try:
        for sku in ("SKU-00001", "SKU-00061", f"SKU-{PRODUCTS:05d}"):
            legacy = get_json(f"{shop.url}/api/products/{sku}")["product"]
            served = get_json(f"{catalog.url}/v1/products/{sku}")
            assert product_to_legacy(product_from_service(served)) == legacy
    finally:
        catalog.stop()


def test_untranslatable_rows_are_reported_by_key_and_skipped(setup: dict[str, Any]) -> None:
    legacy = setup["legacy"]
    sql(legacy, "UPDATE catalog_product SET currency = 'XYZ' WHERE sku = 'SKU-00007'")
    sql(
        legacy, "UPDATE catalog_product SET updated_at = '2024-13-45 10:00' WHERE sku = 'SKU-00030'"
    )
    # above what the catalog's model takes: refused by the target, not by the translator
    sql(legacy, "UPDATE catalog_product SET unit_price_cents = 9e15 WHERE sku = 'SKU-00099'")

    copied = run_json(setup, "copy", "product-catalog", code=3)
    assert copied["complete"]
    assert (copied["read"], copied["written"]) == (PRODUCTS, PRODUCTS - 3)
    skipped = {s["key"]: s for s in copied["skipped"]}
    assert sorted(skipped) == ["SKU-00007", "SKU-00030", "SKU-00099"]
    assert skipped["SKU-00007"] == {
        "key": "SKU-00007",
        "stage": "translate",
        "field": "currency",
        "reason": "unknown currency (got 'XYZ')",
    }
    assert skipped["SKU-00030"]["stage"] == "source"
    assert "month must be in 1..12" in skipped["SKU-00030"]["reason"]
    assert (skipped["SKU-00099"]["stage"], skipped["SKU-00099"]["field"]) == (
        "target",
        "price.amount",
    )

    human = run(setup, "copy", "product-catalog")
    assert human.returncode == 3
    assert "SKU-00007  translate  currency: unknown currency (got 'XYZ')" in human.stdout

    verified = run_json(setup, "verify", "product-catalog", code=3)
    assert verified["matched"] == PRODUCTS - 3
    assert verified["untranslatable"] == 2
    assert [r["key"] for r in verified["untranslatable_rows"]] == ["SKU-00007", "SKU-00030"]
    assert verified["missing_keys"] == ["SKU-00099"]  # translatable, but the service refused it


def test_an_interrupted_copy_resumes_from_its_checkpoint(setup: dict[str, Any]) -> None:
    stopped = run_json(setup, "copy", "product-catalog", "--max-batches", "2", code=0)
    assert not stopped["complete"]
    assert (stopped["read"], stopped["written"], stopped["after"]) == (50, 50, "SKU-00050")
    checkpoint = setup["dir"] / ".strangler" / "data" / "product-catalog.json"
    assert stopped["checkpoint"] == str(checkpoint)
    assert json.loads(checkpoint.read_text())["after"] == "SKU-00050"

    half = run_json(setup, "verify", "product-catalog", code=3)
    assert (half["matched"], half["missing"]) == (50, PRODUCTS - 50)
    assert half["missing_keys"][0] == "SKU-00051"

    resumed = run_json(setup, "copy", "product-catalog", code=0)
    assert resumed["resumed"]
    assert resumed["complete"]
    # counted over the whole pass; the first 50 rows were not read again
    assert (resumed["read"], resumed["written"], resumed["unchanged"]) == (PRODUCTS, PRODUCTS, 0)

    run_json(setup, "copy", "product-catalog", "--max-batches", "1", code=0)
    restarted = run_json(setup, "copy", "product-catalog", "--restart", code=0)
    assert not restarted["resumed"]
    assert (restarted["read"], restarted["unchanged"]) == (PRODUCTS, PRODUCTS)


def test_a_killed_copy_leaves_a_whole_checkpoint_and_resumes_to_equal(
    setup: dict[str, Any],
) -> None:
    checkpoint = setup["dir"] / ".strangler" / "data" / "product-catalog.json"
    # a commit and a checkpoint per row: the kill lands mid-copy
    argv = ["data", "copy", "product-catalog", "--batch-size", "1"]
    copying = subprocess.Popen(
        [STRANGLER, "--routes", str(setup["routes"]), *argv],
        cwd=setup["dir"],
        env=environment(setup),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and copying.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    copying.kill()  # SIGKILL: no handler runs, whatever was committed is all there is
    copying.wait(10)
    saved = json.loads(checkpoint.read_text())  # whole: written to a temporary, then renamed

    resumed = run_json(setup, "copy", "product-catalog", code=0)
    assert resumed["resumed"] is not saved["complete"]
    assert resumed["complete"]
    assert resumed["read"] == PRODUCTS
    run_json(setup, "verify", "product-catalog", code=0)


def test_a_copy_that_changed_rows_in_between_rewrites_only_those(setup: dict[str, Any]) -> None:
    run_json(setup, "copy", "product-catalog", code=0)
    sql(setup["legacy"], "UPDATE catalog_product SET name = 'Renamed' WHERE sku = 'SKU-00042'")
    changed = run(setup, "verify", "product-catalog")
    assert changed.returncode == 3
    assert f"{PRODUCTS - 1} equal, 0 missing, 0 extra, 1 different" in changed.stdout
    assert "different: SKU-00042 (name)" in changed.stdout
    again = run_json(setup, "copy", "product-catalog", code=0)
    assert (again["written"], again["unchanged"]) == (1, PRODUCTS - 1)


def test_bad_input_exits_2_with_a_plain_message(setup: dict[str, Any]) -> None:
    routes = setup["routes"]
    unknown = run(setup, "copy", "nope")
    assert unknown.returncode == 2
    assert "unknown capability 'nope'" in unknown.stderr
    assert "(known: product-catalog, orders, inventory)" in unknown.stderr

    no_data = run(setup, "verify", "orders")
    assert no_data.returncode == 2
    assert no_data.stderr.startswith(f"{routes}:14: capability 'orders' has no 'data:' section")

    routes.write_text(ROUTES.replace("extracted.catalog.data:products", "extracted.nowhere:x"))
    unloadable = run(setup, "copy", "product-catalog")
    assert unloadable.returncode == 2
    assert unloadable.stderr.startswith(
        f"{routes}:12: capabilities.product-catalog.data.target: cannot load 'extracted.nowhere:x'"
    )
    assert "Traceback" not in unloadable.stderr

    routes.write_text(ROUTES.replace("extracted.catalog.data:products", "not a spec"))
    malformed = run(setup, "copy", "product-catalog")
    assert malformed.returncode == 2
    assert malformed.stderr.startswith(f"{routes}:12: ")
    assert "pkg.module:name" in malformed.stderr


def test_a_database_that_is_not_there_is_a_plain_failure(setup: dict[str, Any]) -> None:
    missing = setup["dir"] / "absent.sqlite3"
    result = run(setup, "copy", "product-catalog", STRANGLER_LEGACY_DB=str(missing))
    assert result.returncode == 1
    assert result.stderr.startswith(f"strangler data copy: the monolith's database {missing}")
    assert not missing.exists()

    absent = setup["dir"] / "no-catalog.db"
    result = run(setup, "verify", "product-catalog", STRANGLER_CATALOG_DB=f"sqlite:///{absent}")
    assert result.returncode == 1
    assert "has no schema yet" in result.stderr
    assert not absent.exists()


def test_the_inventory_moves_its_counters_the_same_way(
    setup: dict[str, Any], shop: processes.Running
) -> None:
    first = run_json(setup, "copy", "inventory", code=0)  # creates the service's database
    assert (first["read"], first["written"]) == (PRODUCTS, PRODUCTS)
    assert run_json(setup, "verify", "inventory", code=0)["matched"] == PRODUCTS
    again = run_json(setup, "copy", "inventory", code=0)
    assert (again["written"], again["unchanged"]) == (0, PRODUCTS)

    port = processes.free_port()
    inventory = processes.start(
        "inventory",
        [sys.executable, "-m", "extracted.inventory", "--port", str(port)],
        port=port,
        log_dir=setup["dir"],
        ready_path="/healthz",
        env={"STRANGLER_INVENTORY_DB": f"sqlite:///{setup['dir'] / 'inventory.db'}"},
    )
    try:
        for sku in ("SKU-00001", f"SKU-{PRODUCTS:05d}"):
            legacy = get_json(f"{shop.url}/api/inventory/{sku}")
            served = get_json(f"{inventory.url}/v1/stock/{sku}")
            assert {"result": "ok", **stock_to_legacy(stock_from_service(served))} == legacy
    finally:
        inventory.stop()

    sql(setup["legacy"], "UPDATE catalog_product SET stock = 'lots' WHERE sku = 'SKU-00005'")
    bad = run_json(setup, "copy", "inventory", code=3)
    assert bad["skipped"] == [
        {
            "key": "SKU-00005",
            "stage": "translate",
            "field": "stock",
            "reason": "not an integer (got 'lots')",
        }
    ]
    verified = run_json(setup, "verify", "inventory", code=3)
    assert [r["key"] for r in verified["untranslatable_rows"]] == ["SKU-00005"]
