"""The inventory service as a real process: its own SQLite file, seeded from JSON, and
reservations that never oversell under concurrent requests."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from extracted.chassis.outbox import SYNC_TABLES
from extracted.inventory.adapters.database import VERSION_TABLE
from extracted.inventory.adapters.orm import metadata
from tests.support import processes
from tests.support.row_targets import outbox_rows
from tests.support.schemas import assert_migrations_match_the_models, sqlite_tables
from tests.support.services import call_json, extracted_service

pytestmark = pytest.mark.integration

SEED = [
    {"sku": "SKU-00001", "on_hand": 25, "reserved": 0},
    {"sku": "SKU-00002", "on_hand": 10, "reserved": 4},
    {"sku": "SKU-00003", "on_hand": 100, "reserved": 0},
    {"sku": "SKU-00009", "on_hand": 1, "reserved": 0},  # seeded, never changed
]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inventory-state")


@pytest.fixture(scope="module")
def inventory(state: Path) -> Iterator[processes.Running]:
    seed = state / "seed.json"
    seed.write_text(json.dumps({"items": SEED}))
    running = extracted_service("inventory", state_dir=state, log_dir=state, seed_file=seed)
    yield running
    assert running.stop(signal.SIGTERM) == 0
    assert "Traceback" not in running.log()


def _reserve(url: str, sku: str, quantity: object, key: object) -> tuple[int, dict[str, object]]:
    body = {"quantity": quantity, "idempotency_key": key}
    return call_json(f"{url}/v1/stock/{sku}/reservations", method="POST", body=body)


def test_stock_levels_come_from_the_seed(inventory: processes.Running) -> None:
    status, body = call_json(f"{inventory.url}/v1/stock/SKU-00002")
    assert status == 200
    assert {k: body[k] for k in ("sku", "on_hand", "reserved", "available")} == {
        "sku": "SKU-00002",
        "on_hand": 10,
        "reserved": 4,
        "available": 6,
    }
    assert body["updated_at"].endswith("Z")


def test_concurrent_reservations_never_oversell(inventory: processes.Running) -> None:
    attempts = 60  # one unit each, for 25 on hand
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(
            pool.map(
                lambda n: _reserve(inventory.url, "SKU-00001", 1, f"race-{n}"), range(attempts)
            )
        )
    statuses = Counter(status for status, _ in answers)
    assert statuses == {201: 25, 409: attempts - 25}
    refused = [body for status, body in answers if status == 409]
    assert {body["error"]["code"] for body in refused} == {"insufficient_stock"}  # type: ignore[index]
    _, level = call_json(f"{inventory.url}/v1/stock/SKU-00001")
    assert (level["reserved"], level["available"]) == (25, 0)


def test_concurrent_retries_of_one_key_reserve_once(inventory: processes.Running) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(
            pool.map(lambda _: _reserve(inventory.url, "SKU-00003", 7, "same-key"), range(10))
        )
    assert sorted(status for status, _ in answers) == [200] * 9 + [201]
    _, level = call_json(f"{inventory.url}/v1/stock/SKU-00003")
    assert level["reserved"] == 7


def test_insufficient_stock_names_what_is_available(inventory: processes.Running) -> None:
    status, body = _reserve(inventory.url, "SKU-00002", 7, "too-many")
    assert status == 409
    assert body["error"] == {
        "code": "insufficient_stock",
        "message": "SKU-00002: 7 requested, 6 available",
        "details": {"sku": "SKU-00002", "requested": 7, "available": 6},
    }


def test_a_cancelled_reservation_gives_its_units_back(inventory: processes.Running) -> None:
    status, placed = _reserve(inventory.url, "SKU-00002", 2, "to-cancel")
    assert status == 201
    assert placed["stock"]["available"] == 4  # type: ignore[index]
    url = f"{inventory.url}/v1/stock/SKU-00002/reservations/to-cancel"
    status, cancelled = call_json(url, method="DELETE")
    assert status == 200
    assert cancelled["reservation"]["status"] == "cancelled"
    assert cancelled["stock"]["available"] == 6
    assert _reserve(inventory.url, "SKU-00002", 2, "to-cancel")[0] == 409


def test_a_fulfilled_reservation_leaves_the_shelf(inventory: processes.Running) -> None:
    assert _reserve(inventory.url, "SKU-00003", 5, "to-ship")[0] == 201
    _, before = call_json(f"{inventory.url}/v1/stock/SKU-00003")
    url = f"{inventory.url}/v1/stock/SKU-00003/reservations/to-ship"
    status, shipped = call_json(f"{url}/fulfilment", method="POST")
    assert status == 200
    assert shipped["reservation"]["status"] == "fulfilled"
    assert shipped["stock"]["on_hand"] == before["on_hand"] - 5
    assert shipped["stock"]["reserved"] == before["reserved"] - 5
    assert call_json(f"{url}/fulfilment", method="POST")[1]["stock"] == shipped["stock"]
    status, body = call_json(url, method="DELETE")
    assert (status, body["error"]["code"]) == (409, "reservation_fulfilled")
    status, body = call_json(
        f"{inventory.url}/v1/stock/SKU-00003/reservations/nope/fulfilment", method="POST"
    )
    assert (status, body["error"]["code"]) == (404, "reservation_not_found")


@pytest.mark.parametrize(
    ("quantity", "key", "field"),
    [
        (0, "k", "quantity"),
        ("2", "k", "quantity"),
        (True, "k", "quantity"),
        (1, "", "idempotency_key"),
    ],
)
def test_invalid_reservations_are_422_naming_the_field(
    inventory: processes.Running, quantity: object, key: object, field: str
) -> None:
    status, body = _reserve(inventory.url, "SKU-00003", quantity, key)
    assert status == 422
    assert body["error"]["code"] == "invalid_request"  # type: ignore[index]
    assert body["error"]["details"] == {"field": field}  # type: ignore[index]


def test_unknown_sku_is_404_in_the_service_shape(inventory: processes.Running) -> None:
    status, body = call_json(f"{inventory.url}/v1/stock/SKU-99999")
    assert status == 404
    assert body["error"]["code"] == "stock_not_found"
    assert _reserve(inventory.url, "SKU-99999", 1, "k-missing")[0] == 404


def test_the_database_is_the_service_own(inventory: processes.Running, state: Path) -> None:
    database = state / "inventory.db"
    assert sqlite_tables(database) == {"stock_levels", "reservations", VERSION_TABLE, *SYNC_TABLES}
    assert_migrations_match_the_models(database, version_table=VERSION_TABLE, metadata=metadata)


def test_reservations_are_recorded_for_the_way_back_and_the_seed_is_not(
    inventory: processes.Running, state: Path
) -> None:
    before = len(outbox_rows(state / "inventory.db"))
    status, _ = _reserve(inventory.url, "SKU-00003", 1, "outbox-1")
    assert status == 201
    rows = outbox_rows(state / "inventory.db")
    assert rows[before:] == [("stock", "SKU-00003", "upsert", "app")]
    # a seed brings the monolith's levels: nothing in it is the service's own change
    assert not any(key == "SKU-00009" for _, key, _, _ in rows)
