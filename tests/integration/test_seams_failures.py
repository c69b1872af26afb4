"""Seams when the new side is down, on one real monolith whose routes.yaml is edited between
requests (so this also shows that the seams follow the file without a restart):

- ``experiment`` with both services unreachable: orders are placed exactly as by the monolith
  alone, and the failures are recorded as candidate errors, never shown to the client;
- ``new`` pricing with the catalog down: the legacy prices serve the order (a read falls back);
- ``new`` inventory with the inventory service down: a legacy 503, nothing reserved anywhere
  (a write never falls back: two stores taking reservations for one shelf would oversell);
- a broken routes.yaml changes nothing; back on ``legacy``, orders are the monolith's again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support import processes
from tests.support.services import call_json

pytestmark = pytest.mark.integration
DEAD = "http://127.0.0.1:9"  # discard port: nothing listens


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[processes.Running, Path]]:
    state = tmp_path_factory.mktemp("seams-failures")
    routes = state / "routes.yaml"
    routes.write_text(f"version: 1\nlegacy: {{url: '{DEAD}'}}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STRANGLER_ROUTES", str(routes))
        # one worker: each gunicorn worker follows the file on its own, and "the last good
        # configuration" below is the one this worker saw
        patch.setenv("STRANGLER_LEGACY_WORKERS", "1")
        running = processes.monolith(state, log_dir=state, seed_args=["--products", "30"])
    yield running, routes
    running.stop()


@pytest.fixture(scope="module")
def skus(shop: tuple[processes.Running, Path]) -> list[str]:
    """Active products with stock to spare: one per test, so no test sees another's orders."""
    _, body = call_json(f"{shop[0].url}/api/products?per_page=200")
    return [
        p["sku_item"] for p in body["products"] if p["is_active"] == "Y" and p["qty_on_hand"] >= 5
    ]


def seams(routes: Path, body: str) -> None:
    """Replace routes.yaml the way editors do (write aside, rename): a new inode, so the
    monolith's stat check sees the change even within one timestamp tick."""
    text = (
        f"version: 1\nlegacy: {{url: '{DEAD}'}}\n"
        f"services:\n  catalog: {{url: '{DEAD}', timeout: 1s}}\n"
        f"  inventory: {{url: '{DEAD}', timeout: 1s}}\n"
        f"store: {{url: 'sqlite:///{routes.parent / 'evidence.db'}'}}\n"
        f"seams:\n{body}"
    )
    aside = routes.with_suffix(".new")
    aside.write_text(text)
    os.replace(aside, routes)


def order(url: str, sku: str, qty: int = 1) -> tuple[int, Any]:
    body = {"cust_id": 1, "lines": [{"sku_item": sku, "qty": qty}]}
    return call_json(f"{url}/api/orders", method="POST", body=body)


def available(url: str, sku: str) -> int:
    _, body = call_json(f"{url}/api/inventory/{sku}")
    return int(body["qty_avail"])


def test_an_experiment_never_fails_an_order_when_the_services_are_down(
    shop: tuple[processes.Running, Path], skus: list[str]
) -> None:
    running, routes = shop
    seams(
        routes,
        "  pricing: {implementation: experiment, service: catalog}\n"
        "  inventory: {implementation: experiment, service: inventory}\n",
    )
    before = available(running.url, skus[0])
    status, body = order(running.url, skus[0])
    assert status == 201, body
    assert (
        available(running.url, skus[0]) == before - 1
    )  # the monolith reserved: it is authoritative
    store = routes.parent / "evidence.db"
    deadline = time.monotonic() + 15
    found: list[Any] = []
    while time.monotonic() < deadline and len(found) < 2:
        if store.exists():
            db = ResultStore.open(f"sqlite:///{store}", redactor=Redactor())
            try:
                found = db.observations()
            finally:
                db.close()
        time.sleep(0.2)
    assert sorted(o.experiment for o in found) == ["seam:inventory", "seam:pricing"]
    assert {o.outcome for o in found} == {"candidate_error"}
    assert all("cannot reach" in (o.candidate_error or "") for o in found)


def test_new_pricing_falls_back_to_the_monolith_s_prices(
    shop: tuple[processes.Running, Path], skus: list[str]
) -> None:
    running, routes = shop
    seams(routes, "  pricing: {implementation: new, service: catalog}\n")
    status, body = order(running.url, skus[1])
    assert status == 201, body
    _, product = call_json(f"{running.url}/api/products/{skus[1]}")
    assert body["order"]["lines"][0]["unitPrice"] in (
        product["product"]["unitPrice"],
        (product["product"]["unitPrice"] * 95 + 50) // 100,  # customer 1 may be a VIP
    )


def test_new_inventory_with_the_service_down_is_a_503_and_reserves_nothing(
    shop: tuple[processes.Running, Path], skus: list[str]
) -> None:
    running, routes = shop
    seams(routes, "  inventory: {implementation: new, service: inventory}\n")
    before = available(running.url, skus[2])
    status, body = order(running.url, skus[2])
    assert (status, body["errCode"]) == (503, "E503")
    assert body["errMsg"] == "inventory unavailable, please retry"
    assert available(running.url, skus[2]) == before
    status, body = call_json(
        f"{running.url}/api/inventory/{skus[2]}/reserve", method="POST", body={"qty": 1}
    )
    assert status == 503


def test_a_broken_file_changes_nothing_and_legacy_is_legacy_again(
    shop: tuple[processes.Running, Path], skus: list[str]
) -> None:
    running, routes = shop
    seams(routes, "  inventory: {implementation: new, service: inventory}\n")
    # read by the monolith before it breaks (the file is re-read when a call finds it changed)
    assert order(running.url, skus[3])[0] == 503
    aside = routes.with_suffix(".new")
    aside.write_text("version: 1\nlegacy: {url: [\n")  # not YAML
    os.replace(aside, routes)
    assert order(running.url, skus[3])[0] == 503  # still the last good seams
    seams(routes, "  inventory: {implementation: legacy}\n")
    before = available(running.url, skus[3])
    assert order(running.url, skus[3])[0] == 201
    assert available(running.url, skus[3]) == before - 1
