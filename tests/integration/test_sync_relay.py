"""``strangler data sync product-catalog`` as a user runs it: the real command on the shop's
SQLite database (capture triggers) and the catalog service's own, killed with SIGKILL at
random (seeded) moments while the monolith changes, restarted each time: at the end the
service equals the monolith and no key was ever applied out of order."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from extracted.inventory.adapters.database import create_inventory_engine
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.services import PlaceReservation
from extracted.inventory.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from tests.support import postgres
from tests.support.probe import get_body, wait_until
from tests.support.sync_shop import (
    STRANGLER,
    SyncShop,
    Workload,
    captured_and_copied,
    inventory_data,
    postgres_shop,
    seeded_monolith,
)
from tests.support.sync_targets import not_as_captured, out_of_order

SEED = 1515
PRODUCTS = 300
OPERATIONS = 10_000
KILLS = 10


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


def _captured(shop: SyncShop) -> dict[tuple[str, int], tuple[str, Any]]:
    """Each outbox row of product-catalog by (key, seq): its type and payload (the captured
    columns as that change left them)."""
    rows = shop.sql(
        "SELECT aggregateid, seq, type, payload FROM strangler_outbox"
        " WHERE aggregatetype = 'product-catalog'"
    )
    return {
        (key, int(seq)): (kind, payload if isinstance(payload, dict) else json.loads(payload))
        for key, seq, kind, payload in rows
    }


def _wait_for_progress(
    shop: SyncShop, relay: subprocess.Popen[bytes], applied: int, writer: PacedWorkload
) -> None:
    wait_until(
        lambda: (
            len(shop.applied()) >= applied or relay.poll() is not None or writer.error is not None
        ),
        "the relay applies changes",
        timeout=90,
    )


class PacedWorkload(threading.Thread):
    """``Workload`` in a thread that never runs more than ``allow``ed operations ahead: each
    relay started gets its share of the run to apply while the monolith keeps writing, so
    the kills fall on relays busy with fresh changes from the first to the last."""

    def __init__(self, workload: Workload) -> None:
        super().__init__(daemon=True)
        self._workload = workload
        self._allowed = 0
        self._more = threading.Condition()
        self._finished = False
        self.error: BaseException | None = None

    def allow(self, operations: int) -> None:
        with self._more:
            self._allowed = operations
            self._more.notify()

    def finish(self) -> None:
        with self._more:
            self._finished = True
            self._more.notify()

    def run(self) -> None:
        try:
            while True:
                with self._more:
                    self._more.wait_for(
                        lambda: self._finished or self._allowed > self._workload.done
                    )
                    if self._finished:
                        return
                    allowed = self._allowed
                self._workload.run(allowed, pause=0.002)
        except BaseException as exc:
            self.error = exc


@pytest.mark.timeout(600)
def test_killed_relays_lose_nothing_and_never_apply_a_key_out_of_order(shop: SyncShop) -> None:
    rng = random.Random(SEED)
    workload = Workload(shop.legacy_url, seed=SEED)
    writer = PacedWorkload(workload)
    writer.start()
    log = shop.dir / "relay.log"
    share = OPERATIONS // (KILLS + 1)
    try:
        for kill in range(KILLS):
            # this relay's share is written while it starts and works
            writer.allow(share * (kill + 1))
            relay = shop.popen("sync", "product-catalog", log=log)
            seen = len(shop.applied())
            # a random moment of its work: after 1 to 300 more admitted versions
            _wait_for_progress(shop, relay, seen + rng.randint(1, 300), writer)
            assert writer.error is None, writer.error
            assert relay.poll() is None, log.read_text()
            relay.send_signal(signal.SIGKILL)
            relay.wait(timeout=30)
        # the last one serves /metrics, and is stopped as an operator does: it finishes its
        # batch and exits 0
        writer.allow(OPERATIONS)
        relay = shop.popen("sync", "product-catalog", "--metrics", "127.0.0.1:0", log=log)
        wait_until(lambda: workload.done >= OPERATIONS or writer.error is not None, "the writes")
        assert writer.error is None
        wait_until(
            lambda: log.read_text().count(": following") == KILLS + 1,
            "the last relay follows",
            timeout=90,
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
        writer.finish()
        writer.join(timeout=120)

    assert workload.done >= OPERATIONS
    drained = shop.run("sync", "product-catalog", "--once")
    assert drained.returncode == 0, drained.stderr
    verified = shop.run("verify", "product-catalog", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["equal"] is True

    assert out_of_order(shop.applied()) == []
    assert not_as_captured(shop.applied(), _captured(shop)) == []
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


@pytest.mark.timeout(300)
def test_two_relays_on_one_postgresql_outbox_split_the_work_and_keep_every_key_in_order(
    tmp_path: Path,
) -> None:
    with postgres.running(database="shop") as server:
        shop = postgres_shop(
            tmp_path,
            legacy_url=server.url,
            catalog_url=server.create_database("catalog"),
            products=PRODUCTS,
            batch=50,
        )
        logs = [tmp_path / "relay-1.log", tmp_path / "relay-2.log"]
        applied = [tmp_path / "applied-1.log", tmp_path / "applied-2.log"]
        relays = [
            shop.popen("sync", "product-catalog", log=log, applied_log=to)
            for log, to in zip(logs, applied, strict=True)
        ]
        try:
            wait_until(
                lambda: all(": following" in log.read_text() for log in logs),
                "both relays follow",
                timeout=60,
            )
            # the same workload as the killed relays above: 10,000 mixed operations
            Workload(server.url, seed=SEED).run(OPERATIONS, pause=0.001)
            wait_until(lambda: shop.forward()["pending"] == 0, "the relays drain", timeout=180)
            for relay in relays:
                relay.send_signal(signal.SIGTERM)
            for relay, log in zip(relays, logs, strict=True):
                assert relay.wait(timeout=60) == 0, log.read_text()
        finally:
            for relay in relays:
                if relay.poll() is None:
                    relay.kill()
                    relay.wait(timeout=30)

        verified = shop.run("verify", "product-catalog")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        each = [shop.applied(path) for path in applied]
        assert all(each), "both relays applied changes: the outbox's rows were split"
        # per relay in commit order; across relays the ledger's compare-and-set decides
        assert [out_of_order(lines) for lines in each] == [[], []]
        assert [not_as_captured(lines, _captured(shop)) for lines in each] == [[], []]
        newest = dict(
            shop.sql(
                "SELECT aggregateid, max(seq) FROM strangler_outbox"
                " WHERE aggregatetype = 'product-catalog' GROUP BY aggregateid"
            )
        )
        engine = create_engine(shop.catalog_url)
        try:
            with engine.connect() as db:
                ledger = dict(
                    db.execute(
                        text(
                            "SELECT key, version FROM strangler_sync_ledger"
                            " WHERE capability = 'product-catalog'"
                        )
                    ).all()
                )
        finally:
            engine.dispose()
        assert {k: ledger.get(k) for k in newest} == newest


INVENTORY = (
    """\
version: 1
legacy: {{url: "http://127.0.0.1:9"}}
services:
  inventory: {{url: "http://127.0.0.1:9"}}
capabilities:
  inventory:
    match: [{{methods: [GET], path: "/api/inventory/{{sku}}"}}]
    service: inventory
    mode: {mode}
"""
    + inventory_data()
    + 'store: {{url: "sqlite:///.strangler/strangler.db"}}\n'
)


@pytest.mark.parametrize(
    ("mode", "winner"),
    [("canary", "legacy"), ("extracted", "service")],
)
def test_a_key_changed_on_both_sides_goes_to_the_owner_and_both_outboxes_drain(
    tmp_path: Path, template: Path, mode: str, winner: str
) -> None:
    legacy = tmp_path / "legacy.sqlite3"
    with sqlite3.connect(template) as src, sqlite3.connect(legacy) as dst:
        src.backup(dst)
    inventory = f"sqlite:///{tmp_path / 'inventory.db'}"
    routes = tmp_path / "routes.yaml"
    routes.write_text(INVENTORY.format(mode=mode))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"} | {
        "STRANGLER_LEGACY_DB": str(legacy),
        "STRANGLER_INVENTORY_DB": inventory,
    }

    def data(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [STRANGLER, "--routes", str(routes), "data", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    for verb in ("copy", "capture"):
        assert data(verb, "inventory").returncode == 0
    with closing(sqlite3.connect(legacy)) as db, db:
        ((sku, stock),) = db.execute(
            "SELECT sku, stock FROM catalog_product WHERE reserved = 0 ORDER BY sku LIMIT 1"
        ).fetchall()
        db.execute("UPDATE catalog_product SET stock = stock + 7 WHERE sku = ?", (sku,))
    engine = create_inventory_engine(inventory)
    try:  # the service's own change of the same key, in its outbox
        services.reservation_place(SqlAlchemyUnitOfWork(engine), PlaceReservation(sku, 3, "k1"))
    finally:
        engine.dispose()

    synced = data("sync", "inventory", "--once")

    assert synced.returncode == 0, synced.stderr
    with closing(sqlite3.connect(legacy)) as db:
        [legacy_level] = db.execute(
            "SELECT stock, reserved FROM catalog_product WHERE sku = ?", (sku,)
        ).fetchall()
    # the owner's state on both sides: the monolith's new stock, or the service's reservation
    assert legacy_level == ((stock + 7, 0) if winner == "legacy" else (stock, 3))
    assert data("verify", "inventory").returncode == 0
    status = json.loads(data("status", "inventory", "--json").stdout)["capabilities"][0]
    assert [(d["direction"], d["pending"]) for d in status["directions"]] == [
        ("forward", 0),
        ("back", 0),
    ]
    # one lost change, one row, though after cutover both directions see it
    assert [(c["key"], c["winner"]) for c in status["conflicts"]] == [(sku, winner)]
    again = data("sync", "inventory", "--once")  # no echo: nothing came back to apply
    assert "applied 0" in again.stdout, again.stdout
