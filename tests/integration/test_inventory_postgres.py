"""The inventory service on PostgreSQL (its URL by --db): the guarded UPDATE never oversells
without SQLite's single writer, and concurrent retries of one new key reserve once (the
loser of the insert race answers the winner's reservation, not a 500)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import postgres, processes
from tests.support.services import call_json

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Running]:
    state = tmp_path_factory.mktemp("inventory-pg")
    seed = state / "seed.json"
    seed.write_text(json.dumps([{"sku": "A", "on_hand": 15}, {"sku": "B", "on_hand": 50}]))
    with postgres.running() as server:
        url = server.create_database("inventory")
        port = processes.free_port()
        argv = [sys.executable, "-m", "extracted.inventory", "--port", str(port), "--db", url]
        running = processes.start(
            "inventory-pg",
            [*argv, "--seed-from-json", str(seed)],
            port=port,
            log_dir=state,
            ready_path="/healthz",
        )
        yield running
        running.stop()


def _reserve(url: str, sku: str, quantity: int, key: str) -> int:
    body = {"quantity": quantity, "idempotency_key": key}
    return call_json(f"{url}/v1/stock/{sku}/reservations", method="POST", body=body)[0]


def test_concurrent_reservations_never_oversell(inventory: processes.Running) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = Counter(pool.map(lambda n: _reserve(inventory.url, "A", 1, f"k{n}"), range(40)))
    assert statuses == {201: 15, 409: 25}
    assert call_json(f"{inventory.url}/v1/stock/A")[1]["available"] == 0


def test_concurrent_retries_of_one_new_key_reserve_once(inventory: processes.Running) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(lambda _: _reserve(inventory.url, "B", 4, "one"), range(10)))
    assert statuses == [200] * 9 + [201]
    assert call_json(f"{inventory.url}/v1/stock/B")[1]["reserved"] == 4


def test_no_traceback(inventory: processes.Running, tmp_path: Path) -> None:
    assert "Traceback" not in inventory.log()
