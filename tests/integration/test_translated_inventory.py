"""The inventory capability served by the inventory service through the ``inventory.stock``
translator: clients of the monolith's API get exactly what the monolith would have said,
reservations and refusals included, and an answer that cannot be translated is a 502."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.services import (
    assert_an_untranslatable_answer_is_a_502,
    call,
    extracted_service,
    inventory_seed,
)

pytestmark = pytest.mark.integration
PRODUCTS = 6


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(monolith, facade) URLs; the inventory capability cut over to the service."""
    state = tmp_path_factory.mktemp("translated-inventory")
    shop = processes.monolith(state, log_dir=state, seed_args=["--products", str(PRODUCTS)])
    skus = [f"SKU-{n:05d}" for n in range(1, PRODUCTS + 1)]
    seed = inventory_seed(shop.url, state / "inventory-seed.json", skus=skus)
    inventory = extracted_service("inventory", state_dir=state, log_dir=state, seed_file=seed)
    routes = state / "routes.yaml"
    routes.write_text(
        f"version: 1\nlegacy: {{url: '{shop.url}'}}\n"
        f"services:\n  inventory: {{url: '{inventory.url}'}}\n"
        "capabilities:\n  inventory:\n    service: inventory\n    mode: extracted\n"
        "    translator: inventory.stock\n"
        "    match:\n      - {methods: [GET, HEAD], path: '/api/inventory/{sku}'}\n"
        "      - {methods: [POST], path: '/api/inventory/{sku}/reserve'}\n"
        "debug_headers: true\n"
    )
    facade = processes.facade(routes, log_dir=state)
    yield shop.url, facade.url
    facade.stop()
    inventory.stop()
    shop.stop()


def _available(url: str, sku: str) -> int:
    status, _, body = call(f"{url}/api/inventory/{sku}")
    assert status == 200
    available: int = json.loads(body)["qty_avail"]
    return available


# (method, path, body): in this order, each sent to the monolith and then through the facade,
# so both sides start every request from the same stock
GOLDEN: list[tuple[str, str, bytes | None]] = [
    ("GET", "/api/inventory/SKU-00001", None),  # get stock
    ("GET", "/api/inventory/SKU-99999", None),  # missing sku
    ("POST", "/api/inventory/SKU-99999/reserve", b'{"qty": 1}'),
    ("POST", "/api/inventory/SKU-99999/reserve", b'{"qty": 0}'),  # 404 wins over a bad body
    ("POST", "/api/inventory/SKU-00002/reserve", b'{"qty": 0}'),  # invalid input
    ("POST", "/api/inventory/SKU-00002/reserve", b'{"qty": "2"}'),
    ("POST", "/api/inventory/SKU-00002/reserve", b"not json"),
    ("POST", "/api/inventory/SKU-00002/reserve", b""),
    ("POST", "/api/inventory/SKU-00002/reserve", b'{"qty": 1}'),  # reserve ok
    ("GET", "/api/inventory/SKU-00002", None),  # ... and it shows
    ("POST", "/api/inventory/SKU-00002/reserve", b'{"qty": 100000}'),  # reserve too many
]


def test_extracted_answers_equal_the_monolith_s(stack: tuple[str, str]) -> None:
    monolith, facade = stack
    assert _available(monolith, "SKU-00002") >= 1  # the ok reservation below can succeed
    for method, path, body in GOLDEN:
        direct = call(monolith + path, method=method, data=body)
        through = call(facade + path, method=method, data=body)
        what = f"{method} {path} {body!r}"
        assert through[1]["X-Strangler-Route"] == "inventory;extracted;inventory", what
        assert through[0] == direct[0], what
        assert through[1]["Content-Type"] == direct[1]["Content-Type"], what
        assert through[2] == direct[2], what  # byte for byte
    # the statuses the golden requests were meant to cover
    statuses = [call(monolith + p, method=m, data=b)[0] for m, p, b in GOLDEN[:2]]
    assert statuses == [200, 404]


def test_reserving_all_that_is_left_then_one_more(stack: tuple[str, str]) -> None:
    monolith, facade = stack
    sku = "SKU-00003"
    left = _available(monolith, sku)
    assert left == _available(facade, sku)
    body = json.dumps({"qty": left + 1}).encode() if left else b'{"qty": 1}'
    path = f"/api/inventory/{sku}/reserve"
    for url in (monolith, facade):
        status, _, answer = call(url + path, method="POST", data=body)
        assert status == 409
        assert json.loads(answer)["errMsg"].startswith(f"insufficient stock for {sku}")
    if left:
        exact = json.dumps({"qty": left}).encode()
        assert (
            call(monolith + path, method="POST", data=exact)[2]
            == call(facade + path, method="POST", data=exact)[2]
        )
        assert _available(facade, sku) == 0


def test_an_untranslatable_answer_is_a_502_naming_the_field(tmp_path: Path) -> None:
    assert_an_untranslatable_answer_is_a_502(
        tmp_path,
        capability="inventory",
        service="inventory",
        translator="inventory.stock",
        match="/api/inventory/{sku}",
        path="/api/inventory/SKU-00001",
    )
