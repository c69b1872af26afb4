"""`strangler report` and `strangler diff` as a user runs them, against a store the test fills;
the HTML page is opened in headless Chromium (from the OS packages: scripts/test installs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parallel_run.noise import FORMAT_VERSION, NoiseTracker
from parallel_run.noise_counts import tracker_to_counts
from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support.chromium import needs_chromium, rendered_dom, screenshot

pytestmark = pytest.mark.e2e
STRANGLER = str(Path(sys.executable).parent / "strangler")

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}
services:
  catalog: {url: "http://127.0.0.1:8101"}
capabilities:
  product-catalog:
    match: [{methods: [GET], path: "/api/products/{sku}"}]
    service: catalog
    mode: shadow
  orders:
    match: [{path: "/api/orders"}]
store:
  url: sqlite:///state/strangler.db
"""

# $.generated_at differs between every two legacy answers: learned as noise
NOISE = NoiseTracker.from_dict(
    {
        "version": FORMAT_VERSION,
        "routes": {
            "/api/products/{sku}": {
                "twin_samples": 40,
                "samples": 40,
                "paths": [
                    {"path": "$.generated_at", "kind": "value", "twin_diffs": 40, "diffs": 40}
                ],
            }
        },
    }
)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        # a wide terminal, so rich tables do not cut the paths the tests look for
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        check=False,
    )


def _record(**overrides: Any) -> ObservationRecord:
    fields: dict[str, Any] = {
        "experiment": "product-catalog",
        "route": "/api/products/{sku}",
        "method": "GET",
        "path": "/api/products/SKU-1",
        "outcome": "match",
        "control_status": 200,
        "candidate_status": 200,
        "control_ms": 12.0,
        "candidate_ms": 30.0,
        "control_headers": (("Content-Type", "application/json"),),
        "candidate_headers": (("Content-Type", "application/json"),),
        "control_body": b'{"sku": "SKU-1", "price": "9.99", "name": "Mug"}',
        "candidate_body": b'{"sku": "SKU-1", "price": "9.99", "name": "Mug"}',
    }
    fields.update(overrides)
    return ObservationRecord(**fields)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, list[ObservationRecord]]:
    """A routes.yaml in tmp_path and the store it names, filled with a day of comparisons."""
    (tmp_path / "routes.yaml").write_text(ROUTES)
    now = datetime.now(UTC)
    records: list[ObservationRecord] = []
    for hour in range(24):
        at = now - timedelta(hours=hour, minutes=30)
        records += [_record(created_at=at) for _ in range(20)]
        records += [
            _record(
                outcome="mismatch",
                created_at=at,
                path=f"/api/products/SKU-{hour}-{i}",
                signature="$.price",
                differences=(
                    {
                        "path": "$.price",
                        "template_path": "$.price",
                        "kind": "value",
                        "control": "9.99",
                        "candidate": 9.99,
                    },
                ),
                candidate_body=b'{"sku": "SKU-1", "price": 9.99, "name": "Mug"}',
            )
            for i in range(hour % 4)
        ]
    records.append(
        _record(
            outcome="candidate_error",
            candidate_status=None,
            candidate_error="timeout",
            candidate_body=None,
            created_at=now - timedelta(minutes=5),
        )
    )
    store = ResultStore.open(f"sqlite:///{tmp_path}/state/strangler.db", redactor=Redactor())
    try:
        store.write(records)
        store.add_drops("product-catalog", 3)
        store.add_noise_counts(tracker_to_counts(NOISE, experiment="product-catalog"))
    finally:
        store.close()
    return tmp_path, records


def test_report_json_has_the_contract_shape(project: tuple[Path, list[ObservationRecord]]) -> None:
    root, records = project
    result = run("report", "--json", cwd=root)
    assert result.returncode == 0, result.stderr

    data = json.loads(result.stdout)
    assert {"since", "generated_at", "capabilities"} <= set(data)
    catalog, orders = data["capabilities"]
    assert (catalog["name"], catalog["mode"]) == ("product-catalog", "shadow")
    mismatches = sum(1 for r in records if r.outcome == "mismatch")
    assert catalog["comparisons"] == len(records)
    assert catalog["mismatches"] == mismatches
    assert (catalog["candidate_errors"], catalog["timeouts"], catalog["dropped"]) == (1, 1, 3)
    assert catalog["mismatch_rate"] == pytest.approx((mismatches + 1) / len(records))
    low, high = catalog["mismatch_rate_ci"]
    assert low < catalog["mismatch_rate"] < high
    assert catalog["latency_ms"]["legacy"] == {"p50": 12.0, "p99": 12.0}
    assert set(catalog["latency_ms"]["candidate"]) == {"p50", "p99"}
    (top,) = catalog["top_paths"]
    assert (top["path"], top["count"]) == ("$.price", mismatches)
    assert top["example_id"] in {r.id for r in records if r.outcome == "mismatch"}
    (signature,) = catalog["signatures"]  # 33 requests, one bug
    assert (signature["paths"], signature["count"]) == (["$.price"], mismatches)
    (noise,) = catalog["noise_paths"]
    assert (noise["path"], noise["kind"], noise["twin_rate"]) == ("$.generated_at", "value", 1.0)
    assert len(catalog["timeline"]) == 24
    assert sum(point["comparisons"] for point in catalog["timeline"]) == len(records)
    assert (orders["name"], orders["mode"], orders["comparisons"]) == ("orders", "legacy", 0)


def test_report_in_the_terminal_shows_the_summary_and_the_signatures(
    project: tuple[Path, list[ObservationRecord]],
) -> None:
    root, _ = project
    result = run("report", "product-catalog", "--routes", str(root / "routes.yaml"), cwd=Path("/"))
    assert result.returncode == 0, result.stderr
    assert "product-catalog" in result.stdout
    assert "mismatches by signature" in result.stdout
    assert "$.price" in result.stdout
    assert "learned noise" in result.stdout
    assert "$.generated_at" in result.stdout
    assert "orders" not in result.stdout


def test_report_of_an_unknown_capability_is_bad_input(
    project: tuple[Path, list[ObservationRecord]],
) -> None:
    root, _ = project
    result = run("report", "no-such-capability", cwd=root)
    assert result.returncode == 2
    assert "unknown capability 'no-such-capability'" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_without_a_store_has_zero_counts_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    result = run("--routes", str(tmp_path / "routes.yaml"), "report", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(c["name"], c["comparisons"]) for c in data["capabilities"]] == [
        ("product-catalog", 0),
        ("orders", 0),
    ]
    assert not (tmp_path / "state").exists()


def test_diff_shows_one_comparison_side_by_side(
    project: tuple[Path, list[ObservationRecord]],
) -> None:
    root, records = project
    mismatch = next(r for r in records if r.outcome == "mismatch")
    result = run("diff", mismatch.id, cwd=root)
    assert result.returncode == 0, result.stderr
    assert "$.price" in result.stdout
    assert '"9.99"' in result.stdout  # legacy's string beside the candidate's number
    assert mismatch.path in result.stdout
    assert "legacy" in result.stdout
    assert "candidate" in result.stdout

    as_json = run("diff", mismatch.id, "--json", cwd=root)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["id"], data["outcome"]) == (mismatch.id, "mismatch")
    assert data["differences"][0]["path"] == "$.price"


def test_diff_of_an_unknown_observation_is_bad_input(
    project: tuple[Path, list[ObservationRecord]],
) -> None:
    root, _ = project
    result = run("diff", "0" * 32, cwd=root)
    assert result.returncode == 2
    assert "no observation" in result.stderr


@needs_chromium
def test_report_html_renders_in_headless_chromium_with_its_chart(
    project: tuple[Path, list[ObservationRecord]],
) -> None:
    root, _ = project
    page = root / "report.html"
    result = run("report", "--html", str(page), cwd=root)
    assert result.returncode == 0, result.stderr
    assert page.is_file()

    dom = rendered_dom(page, profile=root / "chromium-profile")
    assert 'id="mismatch-rate-chart"' in dom
    assert "<svg" in dom
    assert "<polyline" in dom
    assert "$.price" in dom
    # a rendered page, not a blank one
    assert screenshot(page, root / "report.png", profile=root / "chromium-profile") > 10_000
