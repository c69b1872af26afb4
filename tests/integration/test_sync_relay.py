"""``strangler data sync product-catalog`` as a user runs it: the real command on the shop's
SQLite database (capture triggers) and the catalog service's own, killed with SIGKILL at
random (seeded) moments while the monolith changes, restarted each time: at the end the
service equals the monolith and no key was ever applied out of order."""

from __future__ import annotations

import json
import random
import re
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support.probe import get_body, wait_until
from tests.support.sync_shop import SyncShop, Workload, captured_and_copied, seeded_monolith
from tests.support.sync_targets import out_of_order

SEED = 1515
PRODUCTS = 300
OPERATIONS = 2000
KILLS = 5


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_monolith(tmp_path_factory.mktemp("shop"), products=PRODUCTS)


@pytest.fixture
def shop(tmp_path: Path, template: Path) -> SyncShop:
    return captured_and_copied(tmp_path, template, batch=100)


def _ledger(shop: SyncShop) -> dict[str, int]:
    with sqlite3.connect(shop.catalog) as db:
        return dict(
            db.execute(
                "SELECT key, version FROM strangler_sync_ledger WHERE capability = ?",
                ("product-catalog",),
            ).fetchall()
        )


def _wait_for_progress(shop: SyncShop, relay: subprocess.Popen[bytes], applied: int) -> None:
    wait_until(
        lambda: len(shop.applied()) >= applied or relay.poll() is not None,
        "the relay applies changes",
        timeout=60,
    )


def test_killed_relays_lose_nothing_and_never_apply_a_key_out_of_order(shop: SyncShop) -> None:
    rng = random.Random(SEED)
    workload = Workload(shop.legacy, seed=SEED)
    writer = threading.Thread(target=workload.run, args=(OPERATIONS,), kwargs={"pause": 0.004})
    writer.start()
    log = shop.dir / "relay.log"
    try:
        for _ in range(KILLS):
            relay = shop.popen("sync", "product-catalog", log=log)
            seen = len(shop.applied())
            # a random point of its work: after 1 to 150 more admitted versions
            _wait_for_progress(shop, relay, seen + rng.randint(1, 150))
            assert relay.poll() is None, log.read_text()
            relay.send_signal(signal.SIGKILL)
            relay.wait(timeout=30)
        # the last one serves /metrics, and is stopped as an operator does: it finishes its
        # batch and exits 0
        relay = shop.popen("sync", "product-catalog", "--metrics", "127.0.0.1:0", log=log)
        writer.join(timeout=120)
        assert not writer.is_alive()
        wait_until(
            lambda: log.read_text().count(": following") == KILLS + 1,
            "the last relay follows",
            timeout=60,
        )
        [port] = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", log.read_text())
        wait_until(
            lambda: 'op="upsert"' in get_body(f"http://127.0.0.1:{port}/metrics").decode(),
            "the relay counts what it applies",
        )
        metrics = get_body(f"http://127.0.0.1:{port}/metrics").decode()
        for series in ("strangler_sync_lag_seconds", "strangler_sync_apply_delay_seconds_bucket"):
            assert f'{series}{{capability="product-catalog",direction="forward"' in metrics
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=60) == 0, log.read_text()
    finally:
        writer.join(timeout=120)

    drained = shop.run("sync", "product-catalog", "--once")
    assert drained.returncode == 0, drained.stderr
    verified = shop.run("verify", "product-catalog", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["equal"] is True

    assert out_of_order(shop.applied()) == []
    newest = dict(
        shop.sql(
            "SELECT aggregateid, max(seq) FROM strangler_outbox"
            " WHERE aggregatetype = 'product-catalog' GROUP BY aggregateid"
        )
    )
    ledger = _ledger(shop)
    # every key's last captured change was applied (or found stale): the ledger holds it
    assert {k: ledger.get(k) for k in newest} == newest
    status = shop.run("status", "product-catalog", "--json")
    assert status.returncode == 0, status.stderr
    [forward] = json.loads(status.stdout)["capabilities"][0]["directions"]
    assert (forward["pending"], forward["parked"]) == (0, 0)
    assert "stopped: applied" in log.read_text()
