"""The parallel run end to end, as a team would run it: the real monolith, a candidate service
that is wrong in one field for some products, the facade in shadow mode, then ``strangler
report`` naming that field with the right rate, and the monolith's own noise set apart."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support import processes

pytestmark = pytest.mark.e2e
STRANGLER = str(Path(sys.executable).parent / "strangler")
DETAILS = 40  # SKU-00001..SKU-00040: every 4th is wrong in the candidate, 10 in all
LISTS = 30  # each list page holds wrong products too, and a generated_at of its own


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Drive shadow traffic once; yield the routes file whose store holds the evidence."""
    state = tmp_path_factory.mktemp("shadow-e2e")
    shop = processes.monolith(state, log_dir=state, seed_args=["--products", "60"])
    port = processes.free_port()
    candidate = processes.start(
        "wrong-catalog",
        [
            sys.executable,
            "-m",
            "tests.support.wrong_catalog",
            "--port",
            str(port),
            "--monolith",
            shop.url,
        ],
        port=port,
        log_dir=state,
        ready_path=None,
    )
    routes = state / "routes.yaml"
    routes.write_text(
        f"version: 1\nlegacy: {{url: '{shop.url}'}}\n"
        f"services:\n  catalog: {{url: '{candidate.url}', timeout: 5s}}\n"
        "capabilities:\n  product-catalog:\n    service: catalog\n    mode: shadow\n"
        "    match:\n      - {methods: [GET], path: /api/products}\n"
        "      - {methods: [GET], path: '/api/products/{sku}'}\n"
        "    compare: {noise: auto, noise_sample: 100%}\n"
        f"store: {{url: 'sqlite:///{state / 'evidence.db'}'}}\n"
    )
    facade = processes.facade(routes, log_dir=state)
    try:
        for _ in range(LISTS):
            with urllib.request.urlopen(f"{facade.url}/api/products?per_page=60", timeout=10) as r:
                assert json.loads(r.read())["result"] == "ok"
            time.sleep(0.03)
        for n in range(1, DETAILS + 1):
            with urllib.request.urlopen(f"{facade.url}/api/products/SKU-{n:05d}", timeout=10) as r:
                assert r.status == 200
    finally:
        assert facade.stop() == 0  # a clean stop flushes comparisons and the store
        candidate.stop()
        shop.stop()
    return routes


def report(routes: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, "report", "--routes", str(routes), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def capability(routes: Path) -> dict[str, Any]:
    result = report(routes, "--json")
    assert result.returncode == 0, result.stderr
    (cap,) = [
        c for c in json.loads(result.stdout)["capabilities"] if c["name"] == "product-catalog"
    ]
    return cap  # type: ignore[no-any-return]


def test_the_report_names_the_wrong_field_with_its_rate(evidence: Path) -> None:
    cap = capability(evidence)
    assert cap["mode"] == "shadow"
    assert cap["comparisons"] == LISTS + DETAILS
    detail = next(p for p in cap["top_paths"] if p["path"] == "$.product.unitPrice")
    assert detail["count"] == DETAILS // 4
    listed = next(p for p in cap["top_paths"] if p["path"] == "$.products[*].unitPrice")
    assert listed["count"] == LISTS
    assert cap["mismatches"] == LISTS + DETAILS // 4
    assert cap["mismatch_rate"] == pytest.approx((LISTS + DETAILS // 4) / (LISTS + DETAILS))
    shown = subprocess.run(
        [STRANGLER, "diff", detail["example_id"], "--routes", str(evidence)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "unitPrice" in shown.stdout


def test_the_monolith_s_own_noise_is_learned_not_counted(evidence: Path) -> None:
    cap = capability(evidence)
    assert "$.generated_at" in {p["path"] for p in cap["noise_paths"]}
    # counted as a difference only while the twin calls were still learning it (20 needed)
    counted = {p["path"]: p["count"] for p in cap["top_paths"]}
    assert counted.get("$.generated_at", 0) <= 20 < LISTS


def test_the_html_report_is_one_self_contained_page_with_a_chart(
    evidence: Path, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    result = report(evidence, "--html", str(page))
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    assert 'id="mismatch-rate-chart"' in html
    assert "$.product.unitPrice" in html
