"""`strangler report` of a capability with data.sync: a mismatch example seen while its key
(the route's `data.sync.key_param`, here `sku`) had a change captured and not yet applied is
marked `(stale?)` in the terminal and `possibly_stale: true` in --json, with the sync lag at
that moment, and still counted as a mismatch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parallel_run import sync_evidence as se
from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.e2e.test_cutover_sync_gate import CAP, ROUTES
from tests.e2e.test_lifecycle_cli import run

pytestmark = pytest.mark.e2e


def mismatch(sku: str, path: str, at: datetime) -> ObservationRecord:
    return ObservationRecord(
        experiment=CAP,
        route="/api/products/{sku}",
        method="GET",
        path=f"/api/products/{sku}?view=full",
        outcome="mismatch",
        signature=path,
        differences=({"path": path, "template_path": path, "kind": "value"},),
        created_at=at,
    )


def test_a_mismatch_seen_while_its_key_was_on_its_way_is_flagged(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    store = ResultStore.open(f"sqlite:///{tmp_path}/state/strangler.db", redactor=Redactor())
    seen = datetime.now(UTC) - timedelta(minutes=10)
    stale = mismatch("SKU-00003", "$.product.unitPrice", seen)
    fresh = mismatch("SKU-00004", "$.product.name", seen)
    try:
        store.write([stale, fresh])
        window = se.SyncWindow(
            CAP, "SKU-00003", seen - timedelta(seconds=1.5), seen + timedelta(seconds=3)
        )
        se.record_windows(store, [window])
    finally:
        store.close()
    as_json = run("report", CAP, "--json", routes=routes)
    assert as_json.returncode == 0, as_json.stderr
    (cap,) = json.loads(as_json.stdout)["capabilities"]
    assert cap["mismatches"] == 2
    rows = {row["example_id"]: row for row in cap["signatures"]}
    assert (rows[stale.id]["possibly_stale"], rows[stale.id]["sync_lag_seconds"]) == (True, 1.5)
    assert (rows[fresh.id]["possibly_stale"], rows[fresh.id]["sync_lag_seconds"]) == (False, 1.5)
    text = run("report", CAP, routes=routes)
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("(stale?)") == 2  # the price's path row and its signature row
    assert "lag 1.5s" in text.stdout
