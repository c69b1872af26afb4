"""Branch by abstraction, end to end: the real monolith under gunicorn places orders with its
pricing and inventory seams on ``legacy``, ``new`` and ``experiment``, against the real
catalog and inventory services on their own SQLite files (seeded with the monolith's data
through the ACL). Clients see the same answers in every mode; ``new`` really moves the work
to the services; ``experiment`` keeps the monolith authoritative and leaves observations in
the result store that ``strangler report`` lists beside the HTTP capabilities."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support import processes
from tests.support.services import call_json, catalog_seed, extracted_service, inventory_seed

pytestmark = pytest.mark.integration
PRODUCTS = 40
MODES = ("legacy", "new", "experiment")


@dataclass
class Stack:
    mode: str
    shop: processes.Running
    catalog: processes.Running
    inventory: processes.Running
    routes: Path
    store: Path


def write_routes(path: Path, *, mode: str, store: Path, catalog: str, inventory: str) -> None:
    path.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n"
        f"services:\n  catalog: {{url: '{catalog}', timeout: 5s}}\n"
        f"  inventory: {{url: '{inventory}', timeout: 5s}}\n"
        "seams:\n"
        f"  pricing: {{implementation: {mode}, service: catalog, sticky: customer}}\n"
        f"  inventory: {{implementation: {mode}, service: inventory}}\n"
        f"store: {{url: 'sqlite:///{store}'}}\n"
    )


@pytest.fixture(scope="module", params=MODES)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    mode: str = request.param
    state = tmp_path_factory.mktemp(f"seams-{mode}")
    routes, store = state / "routes.yaml", state / "evidence.db"
    with pytest.MonkeyPatch.context() as patch:
        # the monolith finds routes.yaml here; seams run legacy until the file names services
        patch.setenv("STRANGLER_ROUTES", str(routes))
        routes.write_text("version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n")
        shop = processes.monolith(
            state, log_dir=state, seed_args=["--products", str(PRODUCTS), "--orders", "20"]
        )
    skus = [f"SKU-{n:05d}" for n in range(1, PRODUCTS + 1)]
    catalog = extracted_service(
        "catalog",
        state_dir=state,
        log_dir=state,
        seed_file=catalog_seed(shop.url, state / "c.json"),
    )
    inventory = extracted_service(
        "inventory",
        state_dir=state,
        log_dir=state,
        seed_file=inventory_seed(shop.url, state / "i.json", skus=skus),
    )
    write_routes(routes, mode=mode, store=store, catalog=catalog.url, inventory=inventory.url)
    yield Stack(mode, shop, catalog, inventory, routes, store)
    for running in (shop, catalog, inventory):
        running.stop()
    assert "Traceback" not in shop.log()


def _products(url: str) -> list[dict[str, Any]]:
    _, body = call_json(f"{url}/api/products?per_page=200")
    return list(body["products"])


def _script(url: str) -> list[tuple[str, dict[str, Any]]]:
    """The orders every mode places, chosen from the seed (the same in every mode)."""
    eur = [p for p in _products(url) if p["curr"] == "EUR" and p["is_active"] == "Y"]
    plenty = [p for p in eur if p["qty_on_hand"] >= 20]
    a, b = plenty[0], plenty[1]
    inactive = next(p for p in _products(url) if p["is_active"] == "N")
    customers = [call_json(f"{url}/api/customers/{n}")[1]["customer"] for n in range(1, 30)]
    vip = next(c for c in customers if c["vip_flag"] == "Y")
    regular = next(c for c in customers if c["vip_flag"] == "N")

    def order(customer: dict[str, Any], *lines: tuple[dict[str, Any], int]) -> dict[str, Any]:
        return {
            "cust_id": customer["cust_id"],
            "lines": [{"sku_item": p["sku_item"], "qty": qty} for p, qty in lines],
        }

    return [
        ("two lines, regular", order(regular, (a, 2), (b, 1))),
        ("two lines, VIP price", order(vip, (a, 3), (b, 2))),
        ("too many", order(regular, (a, 100_000))),
        ("second line too many", order(vip, (b, 1), (a, 100_000))),
        ("unknown sku", order(regular, (a, 1), ({"sku_item": "SKU-99999"}, 1))),
        ("inactive product", order(regular, (inactive, 1))),
    ]


def _place_all(stack: Stack) -> list[tuple[str, int, Any]]:
    results = []
    for label, body in _script(stack.shop.url):
        status, answer = call_json(f"{stack.shop.url}/api/orders", method="POST", body=body)
        if status == 201:
            order_no = answer["order"]["order_no"]
            assert call_json(f"{stack.shop.url}/api/orders/{order_no}") == (200, answer)
        results.append((label, status, answer))
    return results


def _settle_all(stack: Stack, placed: list[tuple[str, int, Any]]) -> list[tuple[str, int, Any]]:
    """Cancel the first order, ship the second, cancel an order the seed placed (its units
    reserved in the monolith's table only, before any seam moved)."""
    url = stack.shop.url
    first, second = placed[0][2]["order"]["order_no"], placed[1][2]["order"]["order_no"]
    seeded = next(
        f"ORD-{n:06d}"
        for n in range(1, 21)
        if call_json(f"{url}/api/orders/ORD-{n:06d}")[1]["order"]["status"] == "PENDING"
    )
    steps = [
        ("cancel", call_json(f"{url}/api/orders/{first}/cancel", method="POST")),
        (
            "confirm",
            call_json(f"{url}/api/orders/{second}", method="PATCH", body={"status": "CONFIRMED"}),
        ),
        (
            "ship",
            call_json(f"{url}/api/orders/{second}", method="PATCH", body={"status": "SHIPPED"}),
        ),
        ("cancel seeded", call_json(f"{url}/api/orders/{seeded}/cancel", method="POST")),
    ]
    return [(label, status, body) for label, (status, body) in steps]


def _on_hand(stack: Stack, sku: str) -> tuple[int, int]:
    """(the monolith's, the inventory service's) units of ``sku`` on hand."""
    _, legacy = call_json(f"{stack.shop.url}/api/inventory/{sku}")
    _, service = call_json(f"{stack.inventory.url}/v1/stock/{sku}")
    return legacy["qty_on_hand"], service["on_hand"]


def _available(stack: Stack, sku: str) -> tuple[int, int]:
    """(the monolith's, the inventory service's) available units of ``sku``."""
    _, legacy = call_json(f"{stack.shop.url}/api/inventory/{sku}")
    _, service = call_json(f"{stack.inventory.url}/v1/stock/{sku}")
    return legacy["qty_avail"], service["available"]


RESULTS: dict[str, list[tuple[str, int, Any]]] = {}
SEEDED_LINES: dict[str, int] = {}


def test_orders_give_the_same_answers_in_every_mode(stack: Stack) -> None:
    script = _script(stack.shop.url)
    a, b = script[0][1]["lines"][0]["sku_item"], script[0][1]["lines"][1]["sku_item"]
    before = {sku: _available(stack, sku) for sku in (a, b)}
    assert all(m == s for m, s in before.values())  # both stores start from the same stock
    results = _place_all(stack)
    statuses = [(label, status) for label, status, _ in results]
    assert statuses == [
        ("two lines, regular", 201),
        ("two lines, VIP price", 201),
        ("too many", 409),
        ("second line too many", 409),
        ("unknown sku", 400),
        ("inactive product", 400),
    ]
    regular, vip = results[0][2]["order"], results[1][2]["order"]
    assert regular["orderTotal"] == sum(line["lineTotal"] for line in regular["lines"])
    assert vip["lines"][0]["unitPrice"] < regular["lines"][0]["unitPrice"]  # the VIP rule ran
    assert results[2][2]["errMsg"].startswith(f"insufficient stock for {a}: requested 100000")
    # what moved, and where: 5 of a and 3 of b; the refused orders left nothing behind
    after = {sku: _available(stack, sku) for sku in (a, b)}
    moved = {
        sku: (before[sku][0] - after[sku][0], before[sku][1] - after[sku][1]) for sku in (a, b)
    }
    expected = {"legacy": ((5, 0), (3, 0)), "new": ((0, 5), (0, 3)), "experiment": ((5, 5), (3, 3))}
    assert (moved[a], moved[b]) == expected[stack.mode]
    # cancel the first order (its 2 + 1 units come back), ship the second (3 + 2 leave)
    shelf = {sku: _on_hand(stack, sku) for sku in (a, b)}
    settled = _settle_all(stack, results)
    assert [(label, status) for label, status, _ in settled] == [
        ("cancel", 200),
        ("confirm", 200),
        ("ship", 200),
        ("cancel seeded", 200),
    ]
    final = {sku: _available(stack, sku) for sku in (a, b)}
    shipped = {sku: _on_hand(stack, sku) for sku in (a, b)}
    # the seed's order was reserved in the monolith's table: in every mode it is released there
    seeded = {
        sku: sum(li["qty"] for li in settled[3][2]["order"]["lines"] if li["sku_item"] == sku)
        for sku in (a, b)
    }
    returned = {sku: (1 - int(stack.mode == "new")) * own for sku, own in ((a, 2), (b, 1))}
    in_service = {sku: int(stack.mode != "legacy") * own for sku, own in ((a, 2), (b, 1))}
    left = {sku: (1 - int(stack.mode == "new")) * own for sku, own in ((a, 3), (b, 2))}
    left_service = {sku: int(stack.mode != "legacy") * own for sku, own in ((a, 3), (b, 2))}
    for sku in (a, b):
        assert final[sku][0] - after[sku][0] == returned[sku] + seeded[sku], sku
        assert final[sku][1] - after[sku][1] == in_service[sku], sku
        assert shelf[sku][0] - shipped[sku][0] == left[sku], sku
        assert shelf[sku][1] - shipped[sku][1] == left_service[sku], sku
    RESULTS[stack.mode] = results + settled
    SEEDED_LINES[stack.mode] = len(settled[3][2]["order"]["lines"])
    if len(RESULTS) == len(MODES):
        assert RESULTS["new"] == RESULTS["legacy"]
        assert RESULTS["experiment"] == RESULTS["legacy"]


def _observations(store: Path, experiment: str, count: int) -> list[Any]:
    deadline = time.monotonic() + 15
    while True:
        if store.exists():
            db = ResultStore.open(f"sqlite:///{store}", redactor=Redactor())
            try:
                found = db.observations(experiment=experiment)
            finally:
                db.close()
            if len(found) >= count or time.monotonic() > deadline:
                return found
        elif time.monotonic() > deadline:
            return []
        time.sleep(0.2)


def test_only_an_experiment_records_observations(stack: Stack) -> None:
    if stack.mode != "experiment":
        assert not stack.store.exists()
        return
    # pricing ran for the 6 orders; inventory reserved each line that got that far (2 + 2 +
    # 1 + 2), released the 2 lines of the cancelled order and shipped the 2 of the other
    seeded = SEEDED_LINES["experiment"]
    pricing = _observations(stack.store, "seam:pricing", 6)
    inventory = _observations(stack.store, "seam:inventory", 11 + seeded)
    assert len(pricing) == 6
    assert {o.outcome for o in pricing} == {"match"}
    outcomes = Counter((o.path.split()[0], o.outcome) for o in inventory)
    assert outcomes == {
        ("reserve_stock", "match"): 7,
        ("release_stock", "match"): 2,
        ("consume_stock", "match"): 2,
        # the seed's order was never in the service: the candidate says so, the order is
        # released by the monolith all the same
        ("release_stock", "candidate_error"): seeded,
    }
    assert {o.kind for o in pricing + inventory} == {"seam"}
    report = subprocess.run(
        [str(processes.BIN / "strangler"), "report", "--json", "--routes", str(stack.routes)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {row["name"]: row for row in json.loads(report.stdout)["capabilities"]}
    assert rows["seam:pricing"]["comparisons"] == 6
    assert rows["seam:pricing"]["mode"] == "experiment"  # routes.yaml's, beside capabilities
    assert rows["seam:inventory"]["comparisons"] == 11 + seeded
    assert rows["seam:inventory"]["mismatches"] == 0
    assert rows["seam:inventory"]["candidate_errors"] == seeded
