"""The service's database stopped and restarted while ``strangler data sync`` follows and the
monolith keeps taking writes (PostgreSQL, one cluster each, as in production): the relay backs
off with one throttled log line, resumes when the database is back, and loses nothing."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.probe import wait_until
from tests.support.sync_shop import Workload, postgres_shop

pytestmark = pytest.mark.integration

SEED = 2424
PRODUCTS = 200


@pytest.mark.timeout(400)
def test_the_service_database_stopped_and_restarted_mid_run_loses_nothing(tmp_path: Path) -> None:
    with (
        postgres.running(database="shop") as monolith,
        postgres.running(database="catalog") as service,
    ):
        shop = postgres_shop(
            tmp_path,
            legacy_url=monolith.url,
            catalog_url=service.url,
            products=PRODUCTS,
            batch=50,
        )
        log = tmp_path / "relay.log"
        relay = shop.popen("sync", "product-catalog", log=log)
        try:
            wait_until(lambda: ": following" in log.read_text(), "the relay follows", timeout=90)
            workload = Workload(monolith.url, seed=SEED)
            workload.run(300, pause=0.002)
            wait_until(lambda: len(shop.applied()) > 0, "the relay applies", timeout=60)

            service.stop()
            workload.run(900, pause=0.002)  # the monolith takes writes all the while
            wait_until(
                lambda: "retrying with back-off" in log.read_text(),
                "the relay says it backs off",
                timeout=60,
            )
            assert shop.forward()["pending"] > 0  # the outbox holds what the service missed
            service.start()
            workload.run(1200, pause=0.002)

            wait_until(lambda: shop.forward()["pending"] == 0, "the relay catches up", timeout=120)
            assert relay.poll() is None, log.read_text()
            relay.send_signal(signal.SIGTERM)
            assert relay.wait(timeout=60) == 0, log.read_text()
        finally:
            if relay.poll() is None:
                relay.kill()
                relay.wait(timeout=30)

        text = log.read_text()
        # throttled: one line for an outage shorter than the log interval, then one for the end
        assert text.count("retrying with back-off") == 1, text
        assert "working again after" in text, text
        forward = shop.forward()
        assert (forward["pending"], forward["parked"]) == (0, 0)
        verified = shop.run("verify", "product-catalog", "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert json.loads(verified.stdout)["equal"] is True
