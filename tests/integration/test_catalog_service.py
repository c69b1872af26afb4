"""The catalog service as a real process: ``python -m extracted.catalog`` on a free port,
with its own SQLite file, seeded and read over real HTTP."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extracted.catalog.adapters.database import VERSION_TABLE
from extracted.catalog.adapters.orm import metadata
from extracted.chassis.outbox import SYNC_TABLES
from tests.support import processes
from tests.support.schemas import assert_migrations_match_the_models, sqlite_tables

pytestmark = pytest.mark.integration

PRODUCTS = 205  # more than one clamped page of 200


def _call(
    url: str, *, method: str = "GET", body: object | None = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def _product(i: int) -> dict[str, Any]:
    return {
        "sku": f"SKU-{i:05d}",
        "name": f"{'Oak' if i % 10 == 0 else 'Pine'} Chair {i}",
        "price": {"amount": f"{i}.{i % 100:02d}", "currency": "EUR" if i % 2 else "GBP"},
        "stock": {"on_hand": i},
        "status": "active" if i % 3 else "inactive",
    }


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("catalog-state")


@pytest.fixture(scope="module")
def catalog(state: Path) -> Iterator[processes.Running]:
    port = processes.free_port()
    running = processes.start(
        "catalog",
        [
            sys.executable,
            "-m",
            "extracted.catalog",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{state / 'catalog.db'}",
        ],
        port=port,
        log_dir=state,
        ready_path="/healthz",
        # the environment must not win over --db
        env={"STRANGLER_CATALOG_DB": f"sqlite:///{state / 'not-this.db'}"},
    )
    try:
        for i in range(PRODUCTS, 0, -1):  # out of order: the list orders by sku
            status, body = _call(
                f"{running.url}/v1/products/SKU-{i:05d}", method="PUT", body=_product(i)
            )
            assert status == 201, body
        yield running
    finally:
        running.stop()


def test_healthz(catalog: processes.Running) -> None:
    assert _call(f"{catalog.url}/healthz") == (200, {"status": "ok"})


def test_detail_reads_back_what_was_put(catalog: processes.Running) -> None:
    status, body = _call(f"{catalog.url}/v1/products/SKU-00042")
    assert status == 200
    assert {k: v for k, v in body.items() if k != "updated_at"} == _product(42)
    assert body["updated_at"].endswith("Z")


def test_replaying_a_put_is_idempotent(catalog: processes.Running) -> None:
    _, before = _call(f"{catalog.url}/v1/products/SKU-00007")
    status, after = _call(f"{catalog.url}/v1/products/SKU-00007", method="PUT", body=_product(7))
    assert (status, after) == (200, before)


def test_unknown_sku_is_404(catalog: processes.Running) -> None:
    status, body = _call(f"{catalog.url}/v1/products/SKU-X")
    assert status == 404
    assert body["error"] == {
        "code": "product_not_found",
        "message": "product SKU-X not found",
        "details": {"sku": "SKU-X"},
    }


def test_bad_page_is_400(catalog: processes.Running) -> None:
    status, body = _call(f"{catalog.url}/v1/products?page=abc")
    assert status == 400
    assert body == {
        "error": {
            "code": "invalid_parameter",
            "message": "page must be a positive integer",
            "details": {"parameter": "page"},
        }
    }


def test_list_clamps_the_page_size_and_pages_in_sku_order(catalog: processes.Running) -> None:
    status, first = _call(f"{catalog.url}/v1/products?page_size=1000")
    assert status == 200
    assert first["page"] == {"number": 1, "size": 200, "total_items": PRODUCTS}
    skus = [p["sku"] for p in first["items"]]
    assert skus == sorted(skus)
    assert skus[0] == "SKU-00001"
    _, second = _call(f"{catalog.url}/v1/products?page=2&page_size=1000")
    assert [p["sku"] for p in second["items"]] == [f"SKU-{i:05d}" for i in range(201, 206)]


def test_list_filters(catalog: processes.Running) -> None:
    _, body = _call(f"{catalog.url}/v1/products?name_contains=oak&currency=GBP&page_size=5")
    assert body["page"] == {"number": 1, "size": 5, "total_items": 20}
    assert all("Oak" in p["name"] and p["price"]["currency"] == "GBP" for p in body["items"])


def test_unknown_path_is_404_in_the_service_shape(catalog: processes.Running) -> None:
    status, body = _call(f"{catalog.url}/v1/nothing")
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_the_database_is_the_service_own(catalog: processes.Running, state: Path) -> None:
    database = state / "catalog.db"
    assert database.is_file()
    assert not (state / "not-this.db").exists()
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute("SELECT count(*) FROM products").fetchone()
        (journal,) = connection.execute("PRAGMA journal_mode").fetchone()
    connection.close()
    # no monolith table in sight
    assert sqlite_tables(database) == {"products", "catalog_alembic_version", *SYNC_TABLES}
    assert count == PRODUCTS
    assert journal == "wal"
    assert_migrations_match_the_models(database, version_table=VERSION_TABLE, metadata=metadata)


def test_seed_from_json_then_stop_by_signal_is_graceful(state: Path) -> None:
    seed_file = state / "seed.json"
    seed_file.write_text(json.dumps({"items": [_product(1), _product(2)]}))
    port = processes.free_port()
    argv = [sys.executable, "-m", "extracted.catalog", "--port", str(port)]
    running = processes.start(
        "catalog-seeded",
        [*argv, "--db", f"sqlite:///{state / 'seeded.db'}", "--seed-from-json", str(seed_file)],
        port=port,
        log_dir=state,
        ready_path="/healthz",
    )
    try:
        _, body = _call(f"{running.url}/v1/products")
        assert [p["sku"] for p in body["items"]] == ["SKU-00001", "SKU-00002"]
    finally:
        assert running.stop(signal.SIGTERM) == 0
    assert "Traceback" not in running.log()
