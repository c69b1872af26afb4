"""Replay through the anti-corruption layer: the catalog service is asked in its own model and
its answer compared in the monolith's vocabulary, as shadow mode compares it."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from acl.catalog import product_from_legacy, product_to_service
from parallel_run.flowfile import write_flows
from parallel_run.traffic import RecordedExchange
from tests.support import processes

pytestmark = pytest.mark.integration
PRODUCTS = 12
WRONG = "SKU-00005"  # the service's copy of this product is off by one cent


def _call(url: str, *, method: str = "GET", data: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/json"} if data else {}
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


def test_replay_asks_the_service_through_its_translator(tmp_path: Path) -> None:
    shop = processes.monolith(tmp_path, log_dir=tmp_path, seed_args=["--products", str(PRODUCTS)])
    port = processes.free_port()
    catalog = processes.start(
        "catalog",
        [
            *(sys.executable, "-m", "extracted.catalog", "--port", str(port)),
            *("--db", f"sqlite:///{tmp_path / 'catalog.db'}"),
        ],
        port=port,
        log_dir=tmp_path,
        ready_path="/healthz",
    )
    try:
        for n in range(1, PRODUCTS + 1):
            sku = f"SKU-{n:05d}"
            legacy = json.loads(_call(f"{shop.url}/api/products/{sku}"))["product"]
            product = product_to_service(product_from_legacy(legacy))
            if sku == WRONG:
                price = product["price"]
                assert isinstance(price, dict)
                price["amount"] = str(Decimal(price["amount"]) + Decimal("0.01"))
            _call(
                f"{catalog.url}/v1/products/{sku}", method="PUT", data=json.dumps(product).encode()
            )
        flows = tmp_path / "catalog.flows"
        write_flows(
            flows,
            [
                *(
                    RecordedExchange(method="GET", target=f"/api/products/SKU-{n:05d}")
                    for n in range(1, PRODUCTS + 1)
                ),
                # a HEAD is asked as its GET, but compared as a HEAD: no body on either side
                RecordedExchange(method="HEAD", target="/api/products/SKU-00001"),
            ],
        )
        routes = tmp_path / "routes.yaml"
        routes.write_text(
            f"version: 1\nlegacy: {{url: '{shop.url}'}}\n"
            f"services:\n  catalog: {{url: '{catalog.url}'}}\n"
            "capabilities:\n  product-catalog:\n    service: catalog\n"
            "    translator: catalog.products\n    mode: shadow\n"
            "    match:\n      - {methods: [GET, HEAD], path: '/api/products/{sku}'}\n"
            f"store: {{url: 'sqlite:///{tmp_path / 'r.db'}'}}\n"
        )
        strangler = str(Path(sys.executable).parent / "strangler")
        done = subprocess.run(
            [strangler, "replay", str(flows), "--routes", str(routes), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        catalog.stop()
        shop.stop()
    assert done.returncode == 3, done.stderr
    summary = json.loads(done.stdout)
    assert summary["compared"] == PRODUCTS + 1
    (cap,) = summary["capabilities"]
    assert (cap["matches"], cap["mismatches"]) == (PRODUCTS, 1)
    # the difference reads in the legacy API's terms: unitPrice in cents, not price.amount
    assert [p["path"] for p in cap["top_paths"]] == ["$.product.unitPrice"]
