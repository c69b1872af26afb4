"""`strangler shadow|canary|cutover|rollback|audit` as a user runs them, against a temp
routes.yaml and a SQLite store the test fills with evidence."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support.strangler_cli import run, write_routes

pytestmark = pytest.mark.e2e

ROUTES = """\
# the switchboard
version: 1
legacy: {url: "http://127.0.0.1:8000"}
services:
  catalog: {url: "http://127.0.0.1:8101"}   # the new catalog
capabilities:
  product-catalog:
    match: [{methods: [GET], path: "/api/products/{sku}"}]
    service: catalog
    mode: shadow              # comparing since Monday
    canary: {percent: 5, sticky: "header:X-Customer-Id"}
    promote: {min_comparisons: 20, max_mismatch_rate: 0.05, window: 1h}
  orders:
    match: [{path: "/api/orders"}]
store:
  url: sqlite:///state/strangler.db
"""


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    path = write_routes(tmp_path, ROUTES)
    return path


def add_evidence(routes: Path, *, matches: int, mismatches: int = 0) -> None:
    store = ResultStore.open(f"sqlite:///{routes.parent}/state/strangler.db", redactor=Redactor())
    now = datetime.now(UTC)
    records = [
        ObservationRecord(
            experiment="product-catalog",
            route="/api/products/{sku}",
            method="GET",
            path=f"/api/products/{i}",
            outcome="match" if i < matches else "mismatch",
            control_status=200,
            candidate_status=200,
            created_at=now,
        )
        for i in range(matches + mismatches)
    ]
    store.write(records)
    store.close()


def mode_of(routes: Path, capability: str = "product-catalog") -> str:
    status = run("status", "--json", routes=routes)
    assert status.returncode == 0, status.stderr
    return next(
        c["mode"] for c in json.loads(status.stdout)["capabilities"] if c["name"] == capability
    )


def audit_records(routes: Path) -> list[dict[str, object]]:
    result = run("audit", "--json", routes=routes)
    assert result.returncode == 0, result.stderr
    records: list[dict[str, object]] = json.loads(result.stdout)["records"]
    return records


def test_cutover_without_evidence_is_refused_with_exit_3_and_nothing_changes(
    routes: Path,
) -> None:
    add_evidence(routes, matches=5)
    result = run("cutover", "product-catalog", routes=routes)
    assert result.returncode == 3
    assert "at least 20 comparisons" in result.stderr
    assert "the store holds: 5 comparisons" in result.stderr
    assert "needs 15 more comparisons" in result.stderr
    assert "--force --reason" in result.stderr
    assert routes.read_text() == ROUTES
    assert audit_records(routes) == []
    as_json = run("cutover", "product-catalog", "--json", routes=routes)
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["exit_code"] == 3


def test_a_high_mismatch_rate_is_refused_even_with_enough_comparisons(routes: Path) -> None:
    add_evidence(routes, matches=30, mismatches=5)
    result = run("cutover", "product-catalog", routes=routes)
    assert result.returncode == 3
    assert "mismatch rate 14.3% > 5%" in result.stderr


def test_cutover_with_enough_evidence_edits_only_the_mode_and_is_audited(routes: Path) -> None:
    add_evidence(routes, matches=25)
    result = run("cutover", "product-catalog", routes=routes)
    assert result.returncode == 0, result.stderr
    assert "shadow -> extracted" in result.stdout
    assert routes.read_text() == ROUTES.replace("    mode: shadow  ", "    mode: extracted  ", 1)
    (record,) = audit_records(routes)
    assert record["source"] == "cli"
    assert record["forced"] is False
    assert record["from"] == {"mode": "shadow", "percent": 0.0}
    assert record["to"] == {"mode": "extracted", "percent": 100.0}
    assert record["evidence"]["comparisons"] == 25  # type: ignore[index]


def test_force_without_reason_is_bad_input(routes: Path) -> None:
    result = run("cutover", "product-catalog", "--force", routes=routes)
    assert result.returncode == 2
    assert "--force needs --reason" in result.stderr
    assert routes.read_text() == ROUTES


def test_a_forced_cutover_is_audited_with_its_reason_then_rolled_back(routes: Path) -> None:
    forced = run(
        "cutover", "product-catalog", "--force", "--reason", "INC-42 hotfix", "--json",
        routes=routes,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    outcome = json.loads(forced.stdout)
    assert outcome["forced"] is True
    assert outcome["shortfalls"] == ["needs 20 more comparisons"]
    assert mode_of(routes) == "extracted"

    back = run("rollback", "product-catalog", routes=routes)
    assert back.returncode == 0, back.stderr
    assert mode_of(routes) == "shadow"
    off = run("rollback", "product-catalog", "--to", "legacy", routes=routes)
    assert off.returncode == 0, off.stderr
    assert mode_of(routes) == "legacy"

    newest, middle, oldest = audit_records(routes)
    assert (oldest["forced"], oldest["reason"]) == (True, "INC-42 hotfix")
    assert (middle["from"], middle["to"]) == (  # type: ignore[comparison-overlap]
        {"mode": "extracted", "percent": 100.0},
        {"mode": "shadow", "percent": 0.0},
    )
    assert newest["to"] == {"mode": "legacy", "percent": 0.0}
    assert "# comparing since Monday" in routes.read_text()
    assert "# the new catalog" in routes.read_text()
    listed = run("audit", "product-catalog", routes=routes)
    assert listed.returncode == 0, listed.stderr
    assert "INC-42 hotfix" in listed.stdout
    assert "cli (forced)" in listed.stdout
    assert "extracted -> shadow" in listed.stdout
    assert json.loads(run("audit", "orders", "--json", routes=routes).stdout)["records"] == []


def test_canary_up_to_the_ungated_percent_needs_no_evidence_above_it_does(routes: Path) -> None:
    small = run("canary", "product-catalog", "--percent", "10", routes=routes)
    assert small.returncode == 0, small.stderr
    assert 'canary: {percent: 10, sticky: "header:X-Customer-Id"}' in routes.read_text()
    big = run("canary", "product-catalog", "--percent", "50", routes=routes)
    assert big.returncode == 3
    assert "canary at 50%" in big.stderr


def test_running_a_step_twice_changes_nothing_the_second_time(routes: Path) -> None:
    assert run("shadow", "product-catalog", routes=routes).returncode == 0
    assert "already shadow" in run("shadow", "product-catalog", routes=routes).stdout
    assert routes.read_text() == ROUTES
    assert audit_records(routes) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cutover", "nope"), "unknown capability 'nope'"),
        (("shadow", "orders"), "has no service"),
        (("canary", "product-catalog", "--percent", "150"), "less than or equal to 100"),
        (("canary", "product-catalog"), "--percent"),
        (("rollback", "product-catalog", "--to", "sideways"), "shadow or legacy"),
    ],
)
def test_bad_input_is_exit_2_with_a_plain_message(
    routes: Path, args: tuple[str, ...], message: str
) -> None:
    result = run(*args, routes=routes)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert routes.read_text() == ROUTES


def test_an_invalid_routes_file_is_never_edited(routes: Path) -> None:
    broken = ROUTES.replace("mode: shadow", "mode: sideways")
    routes.write_text(broken)
    result = run("cutover", "product-catalog", "--force", "--reason", "x", routes=routes)
    assert result.returncode == 2
    assert f"{routes}:10: capabilities.product-catalog.mode" in result.stderr.splitlines()[0]
    assert result.stderr.startswith(str(routes))  # PATH:LINE first, as editors parse it
    assert routes.read_text() == broken


def test_audit_verify_passes_then_fails_after_a_record_is_altered_with_sql(routes: Path) -> None:
    for verb in ("canary", "rollback", "canary"):
        extra = ("--percent", "3") if verb == "canary" else ()
        assert run(verb, "product-catalog", *extra, routes=routes).returncode == 0
    ok = run("audit", "--verify", routes=routes)
    assert ok.returncode == 0, ok.stderr
    assert "intact: 3 records" in ok.stdout

    with sqlite3.connect(routes.parent / "state" / "strangler.db") as db:
        db.execute("UPDATE audit_log SET reason = 'approved by the board' WHERE seq = 2")
    broken = run("audit", "--verify", routes=routes)
    assert broken.returncode == 3
    assert "record #2" in broken.stderr
    assert "altered" in broken.stderr
    as_json = json.loads(run("audit", "--verify", "--json", routes=routes).stdout)
    assert (as_json["ok"], as_json["bad_seq"]) == (False, 2)


def test_audit_verify_fails_after_a_record_is_deleted(routes: Path) -> None:
    for percent in ("1", "2", "3"):
        assert run("canary", "product-catalog", "--percent", percent, routes=routes).returncode == 0
    with sqlite3.connect(routes.parent / "state" / "strangler.db") as db:
        db.execute("DELETE FROM audit_log WHERE seq = 2")
    broken = run("audit", "--verify", routes=routes)
    assert broken.returncode == 3
    assert "record 2 is missing" in broken.stderr


def test_status_shows_evidence_and_readiness(routes: Path) -> None:
    add_evidence(routes, matches=8)
    result = run("status", "--json", routes=routes)
    assert result.returncode == 0, result.stderr
    cap = json.loads(result.stdout)["capabilities"][0]
    assert cap["evidence"]["comparisons"] == 8
    assert cap["evidence"]["window"] == "1h"
    assert cap["readiness"] == {
        "next_step": "cutover",
        "ready": False,
        "text": "needs 12 more comparisons",
    }
    table = run("status", routes=routes)
    assert "needs 12 more comparisons" in table.stdout
    assert "8 in 1h" in table.stdout
