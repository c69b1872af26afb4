"""The way back and conflicts in ``canary``, with real processes: the shop (gunicorn), the
inventory service, the facade sending half the skus to the service (sticky per sku), and
``strangler data sync inventory`` running both directions.

Reservations go through the facade (some skus land on the service, some on the monolith) and
the monolith's counters are also changed behind its API (raw SQL, as a batch job would). A
conflict is made deterministically: with the relay stopped, one sku is changed on both sides,
then the relay runs. At the end the outboxes drain, ``data verify`` is clean, each conflict is
recorded once by key and won by the owner (the monolith in canary, the service after
cutover), and no apply was ever captured again (each outbox holds exactly the application's
own writes)."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from facade.config.bucket import in_share
from tests.e2e.test_data_sync_sides import STRANGLER, data, environment
from tests.support import processes
from tests.support.probe import wait_until
from tests.support.services import call, extracted_service
from tests.support.sync_shop import inventory_data

pytestmark = pytest.mark.e2e
CAP = "inventory"
PERCENT = 50
PRODUCTS = 16
DEADLINE = 60  # seconds for the relay to drain; generous on a loaded machine
Level = tuple[int, int]

ROUTES = (
    """\
version: 1
legacy: {{url: "{legacy}"}}
services:
  inventory: {{url: "{inventory}"}}
capabilities:
  inventory:
    match:
      - {{methods: [GET], path: "/api/inventory/{{sku}}"}}
      - {{methods: [POST], path: "/api/inventory/{{sku}}/reserve"}}
    service: inventory
    translator: inventory.stock
    mode: canary
    canary: {{percent: {percent}, sticky: "header:X-Sku"}}
"""
    + inventory_data(sync=["key_param: sku"])
    + """\
store: {{url: "sqlite:///.strangler/strangler.db"}}
debug_headers: true
"""
)


@dataclass
class Shop:
    """The running stack and what the test wrote on each side (to check for echoes)."""

    place: Path
    facade: str
    monolith_writes: int = 0  # changes of the stock counters made in the monolith
    service_writes: int = 0  # reservations the service made
    relay: subprocess.Popen[bytes] | None = None
    relays_started: int = 0
    conflicts_counted: int = 0  # what the relays counted, summed over their runs
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.place / "relay.log"

    # -- the relay ---------------------------------------------------------------------

    def start_relay(self) -> None:
        with self.log.open("ab") as out:
            self.relay = subprocess.Popen(
                [STRANGLER, "--routes", str(self.place / "routes.yaml"), "data", "sync", CAP],
                cwd=self.place,
                env=environment(self.place),
                stdout=out,
                stderr=out,
            )
        self.relays_started += 1
        # both directions follow: canary and extracted run forward and back
        wait_until(
            lambda: (
                self.log.read_text().count(": following") >= 2 * self.relays_started
                or self.relay is None
                or self.relay.poll() is not None
            ),
            "the relay follows both directions",
            timeout=DEADLINE,
        )
        assert self.relay.poll() is None, self.log.read_text()

    def stop_relay(self) -> None:
        assert self.relay is not None
        self.relay.send_signal(signal.SIGTERM)
        assert self.relay.wait(timeout=DEADLINE) == 0, self.log.read_text()
        self.conflicts_counted += self._counted_by(self.relay.pid)
        self.relay = None

    # -- writes ------------------------------------------------------------------------

    def reserve(self, sku: str, qty: int = 1) -> str:
        """A reservation through the facade; which side served it ("legacy" or "service")."""
        status, headers, body = call(
            f"{self.facade}/api/inventory/{sku}/reserve",
            method="POST",
            data=json.dumps({"qty": qty}).encode(),
            headers={"X-Sku": sku},
        )
        assert status == 200, body
        side = "service" if headers["X-Strangler-Route"].endswith(";inventory") else "legacy"
        if side == "service":
            self.service_writes += 1
        else:
            self.monolith_writes += 1
        return side

    def mode_served(self, sku: str) -> str:
        """The mode the facade served a read of ``sku`` in (its debug route header)."""
        status, headers, body = call(f"{self.facade}/api/inventory/{sku}", headers={"X-Sku": sku})
        assert status == 200, body
        return headers["X-Strangler-Route"].split(";")[1]

    def monolith_restock(self, sku: str, more: int) -> None:
        """The monolith's stock raised behind its API (raw SQL: the triggers see it)."""
        self.sql_monolith(f"UPDATE catalog_product SET stock = stock + {more} WHERE sku = ?", sku)
        self.monolith_writes += 1

    # -- reading both databases --------------------------------------------------------

    def sql_monolith(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        with closing(sqlite3.connect(self.place / "legacy.sqlite3", timeout=30)) as db, db:
            return db.execute(statement, params).fetchall()

    def sql_service(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        with closing(sqlite3.connect(self.place / "inventory.db", timeout=30)) as db, db:
            return db.execute(statement, params).fetchall()

    def outbox(self, side: str) -> tuple[int, int]:
        """(all rows, pending rows) of the capability in ``side``'s outbox."""
        sql, aggregate = (
            (self.sql_monolith, CAP) if side == "legacy" else (self.sql_service, "stock")
        )
        ((total, pending),) = sql(
            "SELECT count(*), count(*) FILTER (WHERE applied_at IS NULL AND parked_at IS NULL)"
            " FROM strangler_outbox WHERE aggregatetype = ?",
            aggregate,
        )
        return int(str(total)), int(str(pending))

    def levels(self, sku: str) -> tuple[Level, Level]:
        """(stock, reserved) in the monolith and (on_hand, reserved) in the service."""
        ((stock, reserved),) = self.sql_monolith(
            "SELECT stock, reserved FROM catalog_product WHERE sku = ?", sku
        )
        ((on_hand, held),) = self.sql_service(
            "SELECT on_hand, reserved FROM stock_levels WHERE sku = ?", sku
        )
        return (int(str(stock)), int(str(reserved))), (int(str(on_hand)), int(str(held)))

    def drained(self) -> None:
        """Both outboxes have nothing pending and nothing parked, within the deadline."""
        wait_until(
            lambda: self.outbox("legacy")[1] == 0 and self.outbox("service")[1] == 0,
            "both outboxes drain",
            timeout=DEADLINE,
        )
        parked = self.sql_monolith(
            "SELECT count(*) FROM strangler_outbox WHERE parked_at IS NOT NULL"
        )
        parked += self.sql_service(
            "SELECT count(*) FROM strangler_outbox WHERE parked_at IS NOT NULL"
        )
        assert parked == [(0,), (0,)], self.log.read_text()

    def no_echo(self) -> None:
        """Each outbox holds exactly the application's own writes: no apply was captured."""
        assert self.outbox("legacy") == (self.monolith_writes, 0)
        assert self.outbox("service") == (self.service_writes, 0)
        origins = "SELECT DISTINCT origin FROM strangler_outbox"
        assert self.sql_monolith(origins) == self.sql_service(origins) == [("app",)]

    def cutover(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [STRANGLER, "--routes", str(self.place / "routes.yaml"), "cutover", CAP, *args],
            cwd=self.place,
            env=environment(self.place),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def listed_conflicts(self) -> list[tuple[str, str]]:
        """(key, winner) of the conflicts ``strangler data status CAP --json`` lists."""
        (report,) = json.loads(data(self.place, "status", CAP, "--json"))["capabilities"]
        return sorted((c["key"], c["winner"]) for c in report["conflicts"])

    def _counted_by(self, pid: int) -> int:
        """The conflicts relay ``pid`` counted, both directions (its last heartbeats)."""
        with closing(sqlite3.connect(self.place / ".strangler" / "strangler.db")) as db:
            ((total,),) = db.execute(
                "SELECT coalesce(sum(conflicts_total), 0) FROM sync_health"
                " WHERE capability = ? AND relay LIKE ?",
                (CAP, f"%:{pid}"),
            ).fetchall()
        return int(total)

    def conflicts(self) -> list[tuple[object, ...]]:
        """(key, winner, loser_side) of every recorded conflict, from the store."""
        with closing(sqlite3.connect(self.place / ".strangler" / "strangler.db")) as db:
            return db.execute(
                "SELECT key, winner, loser_side FROM sync_conflicts WHERE capability = ?"
                " ORDER BY key, id",
                (CAP,),
            ).fetchall()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    seed = ["--products", str(PRODUCTS), "--customers", "1", "--orders", "0"]
    legacy = processes.monolith(tmp_path, log_dir=tmp_path, seed_args=seed)
    running = [legacy]
    stack: Shop | None = None
    try:
        # the service's database: its schema, the monolith's rows, the monolith captured
        (tmp_path / "routes.yaml").write_text(
            ROUTES.format(legacy=legacy.url, inventory="http://127.0.0.1:9", percent=PERCENT)
        )
        data(tmp_path, "capture", CAP)
        data(tmp_path, "copy", CAP)
        inventory = extracted_service("inventory", state_dir=tmp_path, log_dir=tmp_path)
        running.append(inventory)
        (tmp_path / "routes.yaml").write_text(
            ROUTES.format(legacy=legacy.url, inventory=inventory.url, percent=PERCENT)
        )
        front = processes.facade(tmp_path / "routes.yaml", log_dir=tmp_path)
        running.append(front)
        stack = Shop(tmp_path, front.url)
        yield stack
    finally:
        if stack is not None and stack.relay is not None:
            stack.relay.kill()
            stack.relay.wait(timeout=30)
        for process in reversed(running):
            process.stop()


def _skus(shop: Shop) -> tuple[list[str], list[str]]:
    """The seeded skus with stock to spare, split by the canary's sticky draw."""
    rows = shop.sql_monolith(
        "SELECT sku FROM catalog_product WHERE stock - reserved >= 10 ORDER BY sku"
    )
    skus = [str(sku) for (sku,) in rows]
    served = [s for s in skus if in_share(CAP, s, PERCENT)]
    legacy = [s for s in skus if not in_share(CAP, s, PERCENT)]
    # the seed gives both sides some
    assert len(served) >= 3, skus
    assert len(legacy) >= 2, skus
    return served, legacy


def test_canary_both_ways_conflicts_won_by_the_owner_then_by_the_service(shop: Shop) -> None:
    served, legacy = _skus(shop)
    shop.start_relay()

    # traffic while the relay follows: each sku's reservations take one side, and the
    # monolith's batch job restocks skus the service also changes
    for sku in served + legacy:
        assert shop.reserve(sku) == ("service" if sku in served else "legacy")
    shop.drained()
    for sku in served[:1]:  # after the service's change of the same sku has come back
        shop.monolith_restock(sku, 5)
    shop.drained()
    data(shop.place, "verify", CAP)

    # conflicts, deterministically: the relay held, one sku changed on both sides, then run
    shop.stop_relay()
    contested = served[:3]
    before = {sku: shop.levels(sku)[0] for sku in contested}
    for sku in contested:
        assert shop.reserve(sku, 2) == "service"
        shop.monolith_restock(sku, 10)
    shop.start_relay()
    shop.drained()
    shop.stop_relay()  # its last heartbeat writes what it decided into the store
    data(shop.place, "verify", CAP)
    shop.no_echo()

    # the monolith owns the data in canary: its state wins, the service's reservation is lost
    for sku in contested:
        stock, reserved = before[sku]
        assert shop.levels(sku) == ((stock + 10, reserved),) * 2
    assert shop.conflicts() == [(sku, "legacy", "service") for sku in contested]
    assert shop.listed_conflicts() == [(sku, "legacy") for sku in contested]

    # a later change on the owner's side alone is no conflict: the lost change was decided
    shop.start_relay()
    shop.monolith_restock(contested[0], 1)
    shop.drained()
    shop.stop_relay()
    assert shop.conflicts() == [(sku, "legacy", "service") for sku in contested]
    assert shop.conflicts_counted == len(contested)

    # cutover: the evidence gate wants comparisons this test does not make (no shadow), and
    # the relay is stopped (so the conflicts below are made while it is held)
    refused = shop.cutover()
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "more comparisons" in " ".join(refused.stderr.split()), refused.stderr
    forced = shop.cutover("--force", "--reason", "test: no shadow comparisons")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "mode: extracted" in (shop.place / "routes.yaml").read_text()
    wait_until(lambda: shop.mode_served(legacy[0]) == "extracted", "the facade reloads")

    # a smaller round after cutover: every reservation goes to the service, which now owns
    # the data: its state wins, the monolith's restock is lost
    contested_after = legacy[:2]
    for sku in contested_after:
        assert shop.reserve(sku, 3) == "service"
        shop.monolith_restock(sku, 7)
    after = {sku: shop.levels(sku)[1] for sku in contested_after}
    shop.start_relay()
    shop.drained()
    shop.stop_relay()
    data(shop.place, "verify", CAP)
    shop.no_echo()
    for sku in contested_after:
        assert shop.levels(sku) == (after[sku],) * 2
    won_by_service = [c for c in shop.conflicts() if c[1] == "service"]
    assert won_by_service == [(sku, "service", "legacy") for sku in contested_after]
    assert shop.conflicts_counted == len(contested) + len(contested_after)

    # the owner's later change of a contested sku is no conflict either
    shop.start_relay()
    assert shop.reserve(contested_after[0]) == "service"
    shop.drained()
    shop.stop_relay()
    data(shop.place, "verify", CAP)
    shop.no_echo()
    assert shop.conflicts_counted == len(contested) + len(contested_after)
    assert len(shop.conflicts()) == len(contested) + len(contested_after)


def test_writes_racing_on_both_sides_end_equal_and_each_conflict_counts_once(shop: Shop) -> None:
    """The same, left to chance: for a few seconds reservations go through the facade while
    the monolith's batch job restocks any sku, and the relay follows. Whatever raced, the
    sides end equal, nothing echoes, and the counters agree with the store, row for row."""
    served, legacy = _skus(shop)
    skus = served + legacy
    shop.start_relay()
    rng = random.Random(15)
    until = time.monotonic() + 3
    paced = threading.Event()  # never set: a pause between the batch job's updates

    def batch_job() -> None:
        while time.monotonic() < until:
            shop.monolith_restock(rng.choice(skus), 3)
            paced.wait(0.01)

    job = threading.Thread(target=batch_job)
    job.start()
    while time.monotonic() < until:
        sku = rng.choice(skus)
        assert shop.reserve(sku) == ("service" if sku in served else "legacy")
    job.join()
    shop.drained()
    shop.stop_relay()
    data(shop.place, "verify", CAP)
    shop.no_echo()
    conflicts = shop.conflicts()
    assert shop.conflicts_counted == len(conflicts)
    # only where both sides take writes (the monolith's own skus change in one database),
    # and always for the owner
    assert {key for key, _, _ in conflicts} <= set(served)
    assert {(winner, loser) for _, winner, loser in conflicts} <= {("legacy", "service")}
