"""`strangler cutover` of a capability with data.sync refuses (exit 3, the reason in stderr)
while its data is not in step: the lag over promote.max_sync_lag, rows parked, the latest
`data verify` dirty or missing. The test writes the relay's heartbeat and the verification into
the store with parallel_run.sync_evidence, as a relay and `data verify` do. `--force --reason`
goes ahead, audited; a capability without data.sync is not asked about its data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parallel_run import sync_evidence as se
from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.e2e.test_lifecycle_cli import run

pytestmark = pytest.mark.e2e

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
    promote: {min_comparisons: 20, max_mismatch_rate: 0.05, window: 1h, max_sync_lag: 5s}
    data:
      source: legacy_monolith.data:products
      translate: acl.catalog_rows:product_row_from_legacy
      target: extracted.catalog.data:products
      sync: {capture: legacy_monolith.data:product_capture, key_param: sku}
  reviews:
    match: [{methods: [GET], path: "/api/reviews/{sku}"}]
    service: catalog
    mode: shadow
    promote: {min_comparisons: 20, max_mismatch_rate: 0.05, window: 1h}
    data:
      source: legacy_monolith.data:products
      translate: acl.catalog_rows:product_row_from_legacy
      target: extracted.catalog.data:products
store:
  url: sqlite:///state/strangler.db
"""
CAP = "product-catalog"


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


@pytest.fixture
def store(routes: Path) -> Iterator[ResultStore]:
    """The result store, with enough clean comparisons for both capabilities: only the data
    sync can stand in the way."""
    opened = ResultStore.open(f"sqlite:///{routes.parent}/state/strangler.db", redactor=Redactor())
    now = datetime.now(UTC)
    opened.write(
        ObservationRecord(
            experiment=name, route=f"/api/{name}/{{sku}}", outcome="match", created_at=now
        )
        for name in (CAP, "reviews")
        for _ in range(25)
    )
    yield opened
    opened.close()


def heartbeat(**overrides: object) -> se.SyncHealth:
    """What a healthy forward relay reports every 2 s."""
    fields: dict[str, object] = {
        "capability": CAP,
        "direction": "forward",
        "relay": "ops-1:4242",
        "at": datetime.now(UTC),
        "lag_seconds": 0.3,
        "pending": 0,
        "parked": 0,
        "applied_total": 1200,
        "conflicts_total": 0,
        "capture_state": "installed",
    }
    fields.update(overrides)
    return se.SyncHealth(**fields)  # type: ignore[arg-type]


CLEAN = {"source": 120, "target": 120, "same": 120, "different": 0, "missing": 0, "extra": 0}


def verified(store: ResultStore, *, equal: bool = True, **counts: int) -> None:
    se.record_verification(
        store, se.Verification(CAP, datetime.now(UTC), equal, {**CLEAN, **counts})
    )


def mode_of(routes: Path, capability: str = CAP) -> str:
    status = run("status", "--json", routes=routes)
    assert status.returncode == 0, status.stderr
    caps = json.loads(status.stdout)["capabilities"]
    return str(next(c["mode"] for c in caps if c["name"] == capability))


def refused(routes: Path) -> str:
    result = run("cutover", CAP, routes=routes)
    assert result.returncode == 3, result.stdout + result.stderr
    assert routes.read_text() == ROUTES
    return " ".join(result.stderr.split())  # rich may wrap a long line


def test_a_healthy_sync_and_a_clean_verify_let_cutover_through(
    routes: Path, store: ResultStore
) -> None:
    se.write_health(store, heartbeat())
    verified(store)
    result = run("cutover", CAP, routes=routes)
    assert result.returncode == 0, result.stderr
    assert mode_of(routes) == "extracted"
    audit = json.loads(run("audit", "--json", routes=routes).stdout)["records"]
    (record,) = audit
    assert record["forced"] is False
    (forward,) = record["evidence"]["sync"]["directions"]
    assert (forward["direction"], forward["lag_seconds"]) == ("forward", 0.3)
    assert record["evidence"]["sync"]["verify"]["equal"] is True


def test_a_lag_over_max_sync_lag_is_refused(routes: Path, store: ResultStore) -> None:
    se.write_health(store, heartbeat(lag_seconds=12.3, pending=800))
    verified(store)
    stderr = refused(routes)
    assert "data sync:" in stderr
    assert (
        "sync lag 12.3s > promote.max_sync_lag 5s (forward; strangler data status "
        "product-catalog)" in stderr
    )
    assert "needs" not in stderr.split("data sync:")[0]  # the comparisons were enough


def test_a_relay_that_stopped_reporting_is_refused(routes: Path, store: ResultStore) -> None:
    se.write_health(store, heartbeat(at=datetime.now(UTC) - timedelta(minutes=5)))
    verified(store)
    stderr = refused(routes)
    assert "relay not running for forward: last heartbeat" in stderr
    assert "(run: strangler data sync product-catalog)" in stderr


def test_parked_rows_are_refused(routes: Path, store: ResultStore) -> None:
    se.write_health(store, heartbeat(parked=3))
    verified(store)
    stderr = refused(routes)
    assert (
        "3 rows parked for forward (strangler data status product-catalog; strangler data "
        "sync product-catalog --retry-parked)" in stderr
    )


def test_a_dirty_verify_is_refused(routes: Path, store: ResultStore) -> None:
    se.write_health(store, heartbeat())
    verified(store, equal=False, same=117, different=2, missing=1)
    stderr = refused(routes)
    assert "found 2 different, 1 missing rows" in stderr
    assert "(run: strangler data verify product-catalog once the sync has caught up)" in stderr


def test_no_verify_at_all_is_refused(routes: Path, store: ResultStore) -> None:
    se.write_health(store, heartbeat())
    stderr = refused(routes)
    assert "no data verify recorded (run: strangler data verify product-catalog)" in stderr


def test_a_newer_clean_verify_clears_a_dirty_one(routes: Path, store: ResultStore) -> None:
    se.write_health(store, heartbeat())
    verified(store, equal=False, different=4)
    assert "found 4 different rows" in refused(routes)
    verified(store)
    assert run("cutover", CAP, routes=routes).returncode == 0


def test_force_with_a_reason_goes_ahead_and_the_override_is_audited(
    routes: Path, store: ResultStore
) -> None:
    se.write_health(store, heartbeat(parked=2))
    result = run("cutover", CAP, "--force", "--reason", "parked rows are test data", routes=routes)
    assert result.returncode == 0, result.stderr
    assert mode_of(routes) == "extracted"
    (record,) = json.loads(run("audit", "--json", routes=routes).stdout)["records"]
    assert record["forced"] is True
    assert record["reason"] == "parked rows are test data"
    shortfalls = record["evidence"]["shortfalls"]
    assert any(s.startswith("2 rows parked for forward") for s in shortfalls)
    assert any(s.startswith("no data verify recorded") for s in shortfalls)
    assert record["evidence"]["sync"]["directions"][0]["parked"] == 2


def test_a_capability_without_data_sync_is_not_asked_about_its_data(
    routes: Path, store: ResultStore
) -> None:
    # the other capability's sync is as bad as it gets: nothing of it concerns reviews
    se.write_health(store, replace(heartbeat(), lag_seconds=99.0, parked=7))
    result = run("cutover", "reviews", routes=routes)
    assert result.returncode == 0, result.stderr
    assert mode_of(routes, "reviews") == "extracted"
    (record,) = json.loads(run("audit", "--json", routes=routes).stdout)["records"]
    assert "sync" not in record["evidence"]


def test_status_shows_the_sync_of_a_capability_with_data_sync(
    routes: Path, store: ResultStore
) -> None:
    se.write_health(store, heartbeat(lag_seconds=0.4))
    se.write_health(store, heartbeat(direction="back", lag_seconds=1.2, conflicts_total=2))
    status = run("status", "--json", routes=routes)
    assert status.returncode == 0, status.stderr
    caps = {c["name"]: c for c in json.loads(status.stdout)["capabilities"]}
    assert caps["reviews"]["sync"] is None
    sync = caps[CAP]["sync"]
    assert [(d["direction"], d["lag_seconds"], d["conflicts"]) for d in sync["directions"]] == [
        ("forward", 0.4, 0),
        ("back", 1.2, 2),
    ]
    assert sync["verify"] is None
    assert caps[CAP]["readiness"]["text"].startswith("no data verify recorded")
    verified(store)
    table = run("status", routes=routes)
    assert table.returncode == 0, table.stderr
    assert "fwd 0.4s · 0 parked" in table.stdout
    assert "back 1.2s · 0 parked · 2 conflicts" in table.stdout
    assert "verify clean" in table.stdout
