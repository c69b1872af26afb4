"""The result store on a real SQLite file and a real PostgreSQL (started by the test)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from parallel_run.record import ObservationRecord
from parallel_run.redact import MASK, Redactor
from parallel_run.store import MatchTally, NoiseCount, ResultStore, metadata, minute_of
from tests.support import postgres

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-TOKEN-4f9a"
REDACTOR = Redactor(headers=["X-Tenant-Secret"], json_fields=["card_number"])


def _record(**overrides: object) -> ObservationRecord:
    fields: dict[str, object] = {
        "experiment": "catalog.products",
        "route": "/api/products/{id}",
        "method": "GET",
        "path": "/api/products/7",
        "outcome": "match",
        "control_status": 200,
        "candidate_status": 200,
        "control_ms": 12.5,
        "candidate_ms": 20.0,
        "signature": "",
        "control_headers": (("Content-Type", "application/json"),),
        "candidate_headers": (("Content-Type", "application/json"),),
        "control_body": b'{"id": 7}',
        "candidate_body": b'{"id": 7}',
    }
    fields.update(overrides)
    return ObservationRecord(**fields)  # type: ignore[arg-type]


def _secret_record() -> ObservationRecord:
    body = json.dumps({"user": "ann", "password": SECRET, "card_number": SECRET}).encode()
    return _record(
        outcome="mismatch",
        path=f"/api/login?next=%2F&token={SECRET}",
        control_headers=(
            ("Content-Type", "application/json"),
            ("Authorization", f"Bearer {SECRET}"),
            ("Cookie", f"sessionid={SECRET}; theme=dark"),
            ("X-Tenant-Secret", SECRET),
        ),
        candidate_headers=(
            ("Content-Type", "application/json"),
            ("Set-Cookie", f"sessionid={SECRET}; Path=/; HttpOnly"),
            ("X-API-Key", SECRET),
        ),
        control_body=body,
        candidate_body=body,
        control_error=f"GET /x?code={SECRET} failed",
        differences=(
            {
                "path": "root['password']",
                "template_path": "password",
                "kind": "changed",
                "control": SECRET,
                "candidate": "other",
            },
            {
                "path": "header:cookie",
                "template_path": "header:cookie",
                "kind": "changed",
                "control": f"sessionid={SECRET}",
                "candidate": None,
            },
        ),
        signature="password:changed",
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/nested/dir/strangler.db"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[ResultStore]:
    opened = ResultStore.open(sqlite_url, redactor=REDACTOR, body_limit=1024)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[postgres.PostgresServer]:
    with postgres.running() as server:
        yield server


_databases = iter(range(1, 1000))


@pytest.fixture
def pg_url(pg: postgres.PostgresServer) -> str:
    return pg.create_database(f"store_{next(_databases)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[ResultStore]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = ResultStore.open(url, redactor=REDACTOR, body_limit=1024)
    yield opened
    opened.close()


# both backends ---------------------------------------------------------------------------


def test_an_observation_survives_a_round_trip(any_store: ResultStore) -> None:
    record = _record(
        outcome="mismatch",
        kind="http",
        candidate_status=500,
        candidate_error="boom",
        differences=(
            {
                "path": "root['n']",
                "template_path": "n",
                "kind": "changed",
                "control": 1,
                "candidate": 2,
            },
        ),
        noise=(
            {
                "path": "root['ts']",
                "template_path": "ts",
                "kind": "changed",
                "control": "a",
                "candidate": "b",
            },
        ),
        signature="n:changed",
        run_id="replay-1",
        created_at=datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    )
    assert any_store.write([record]) == 1
    assert any_store.observation(record.id) == record
    assert any_store.observation("0" * 32) is None
    assert any_store.observations(run_id="replay-1") == [record]
    assert any_store.observations(experiment="other") == []


def test_secrets_are_redacted_before_they_are_stored(any_store: ResultStore) -> None:
    record = _secret_record()
    any_store.write([record])
    stored = any_store.observation(record.id)
    assert stored is not None
    assert stored.path == "/api/login?next=%2F&token=[REDACTED]"
    assert dict(stored.control_headers)["Authorization"] == "Bearer [REDACTED]"
    assert dict(stored.control_headers)["Cookie"] == "sessionid=[REDACTED]; theme=[REDACTED]"
    assert dict(stored.candidate_headers)["Set-Cookie"] == "sessionid=[REDACTED]; Path=/; HttpOnly"
    assert stored.control_body is not None
    assert json.loads(stored.control_body) == {
        "user": "ann",
        "password": MASK,
        "card_number": MASK,
    }
    assert stored.differences[0]["control"] == MASK
    assert stored.differences[1]["control"] == MASK
    assert SECRET not in repr(stored)


def test_noise_counts_are_added_up(any_store: ResultStore) -> None:
    any_store.add_noise_counts(
        [
            NoiseCount("e", "/r", "a", twin_samples=1, twin_diffs=1),
            NoiseCount("e", "/r", "a", samples=2, diffs=1),
            NoiseCount("e", "/r", "b", samples=1),
            NoiseCount("f", "/r", "a", twin_samples=5),
        ]
    )
    any_store.add_noise_counts([NoiseCount("e", "/r", "a", twin_samples=1, samples=1)])
    assert any_store.noise_counts("e") == [
        NoiseCount("e", "/r", "a", twin_samples=2, twin_diffs=1, samples=3, diffs=1),
        NoiseCount("e", "/r", "b", samples=1),
    ]
    assert len(any_store.noise_counts()) == 3


def test_summary_counts_outcomes_drops_latencies_and_signatures(any_store: ResultStore) -> None:
    now = datetime.now(UTC)
    records = [_record(control_ms=float(ms), candidate_ms=float(ms * 2)) for ms in range(1, 101)]
    mismatches = [
        _record(
            outcome="mismatch",
            signature="price:changed",
            differences=(
                {
                    "path": "root['price']",
                    "template_path": "price",
                    "kind": "changed",
                    "control": 1,
                    "candidate": 2,
                },
            ),
        )
        for _ in range(3)
    ]
    records += [*mismatches, _record(outcome="ignored"), _record(outcome="candidate_error")]
    records.append(_record(experiment="old", created_at=now - timedelta(days=2)))
    any_store.write(records)
    any_store.add_drops("catalog.products", 4)
    any_store.add_drops("catalog.products", 3)
    any_store.add_drops("orders", 2)

    summary = any_store.summary(now - timedelta(hours=1))
    assert set(summary) == {"catalog.products", "orders"}
    products = summary["catalog.products"]
    assert (products.comparisons, products.matches, products.mismatches) == (105, 100, 3)
    assert (products.ignored, products.candidate_errors, products.dropped) == (1, 1, 7)
    assert products.control_ms.p50 == 48.0  # nearest rank 53 of 1..100 and five 12.5s
    assert products.control_ms.count == 105
    assert products.candidate_ms.p99 is not None
    assert products.candidate_ms.p99 >= 196
    assert products.top_signatures[0].signature == "price:changed"
    assert products.top_signatures[0].count == 3
    assert products.top_signatures[0].example_id in {m.id for m in mismatches}
    assert products.top_paths[0].path == "price"
    assert products.top_paths[0].count == 3
    assert summary["orders"].dropped == 2
    assert summary["orders"].comparisons == 0
    assert set(any_store.summary(now - timedelta(days=3), experiment="old")) == {"old"}


def test_tallied_matches_count_in_summaries_timelines_and_latencies(any_store: ResultStore) -> None:
    now = datetime.now(UTC)
    minute = minute_of(now)
    tally = MatchTally("catalog.products", "/api/products/{id}", minute)
    for ms in range(1, 1001):
        tally.add(float(ms), float(ms) * 2)
    assert any_store.add_match_tallies([tally, MatchTally("empty", "/r", minute)]) == 1000
    any_store.write([_record(outcome="mismatch", control_ms=5000.0, candidate_ms=5000.0)])
    other_run = MatchTally("catalog.products", "/r", minute, run_id="replay-1")
    other_run.add(1.0, 1.0)
    any_store.add_match_tallies([other_run])

    products = any_store.summary(minute - timedelta(hours=1))["catalog.products"]
    assert (products.comparisons, products.matches, products.mismatches) == (1001, 1000, 1)
    assert products.control_ms.count == 1001
    # the histogram's answer is within 1% of the exact nearest rank (501 and 991)
    assert products.control_ms.p50 == pytest.approx(501, rel=0.01)
    assert products.control_ms.p99 == pytest.approx(991, rel=0.01)
    assert products.candidate_ms.p50 == pytest.approx(1002, rel=0.01)
    assert products.latest_at is not None

    (bucket,) = any_store.timeline(
        minute - timedelta(minutes=5), until=minute + timedelta(minutes=5), buckets=1
    )["catalog.products"]
    assert (bucket.matches, bucket.mismatches) == (1000, 1)
    # a tally from before the window is left out whole
    assert any_store.summary(minute + timedelta(minutes=1)).get("catalog.products") is None


def test_expired_observations_and_drops_are_purged(any_store: ResultStore) -> None:
    now = datetime.now(UTC)
    old = _record(created_at=now - timedelta(days=31))
    fresh = _record(created_at=now - timedelta(days=29))
    any_store.write([old, fresh])
    any_store.add_drops("catalog.products", 5, at=now - timedelta(days=40))
    stale = MatchTally("catalog.products", "/r", minute_of(now - timedelta(days=31)), count=3)
    any_store.add_match_tallies([stale])
    assert any_store.purge_expired(now=now) == 1
    assert any_store.summary(now - timedelta(days=40)).get("catalog.products") is not None
    assert any_store.summary(now - timedelta(days=40))["catalog.products"].matches == 1
    assert any_store.observation(old.id) is None
    assert any_store.observation(fresh.id) == fresh
    assert any_store.dropped() == {}


# SQLite -----------------------------------------------------------------------------------


def test_sqlite_store_is_in_wal_mode_with_a_busy_timeout(store: ResultStore) -> None:
    assert store.execute_text("PRAGMA journal_mode") == [("wal",)]
    assert store.execute_text("PRAGMA busy_timeout") == [(5000,)]
    assert store.execute_text("PRAGMA foreign_keys") == [(1,)]


def test_relative_sqlite_paths_are_taken_from_base_dir(tmp_path: Path) -> None:
    opened = ResultStore.open(
        "sqlite:///.strangler/strangler.db", redactor=REDACTOR, base_dir=tmp_path
    )
    opened.close()
    assert (tmp_path / ".strangler" / "strangler.db").is_file()


def test_no_secret_reaches_the_sqlite_file(store: ResultStore, tmp_path: Path) -> None:
    store.write([_secret_record()])
    store.add_drops("catalog.products", 1)
    files = list(tmp_path.rglob("strangler.db*"))
    assert files, "the database file should exist"
    raw = b"".join(path.read_bytes() for path in files)
    assert b"[REDACTED]" in raw
    assert SECRET.encode() not in raw
    store.close()  # checkpoints the WAL into the main file
    raw = b"".join(path.read_bytes() for path in tmp_path.rglob("strangler.db*"))
    assert SECRET.encode() not in raw


def test_bodies_are_truncated_to_the_limit_and_keep_their_full_size(store: ResultStore) -> None:
    html = b"<html>" + b"x" * 10_000 + b"</html>"
    big_json = json.dumps({"items": list(range(5000)), "password": SECRET}).encode()
    record = _record(
        control_headers=(("Content-Type", "text/html"),),
        control_body=html,
        candidate_body=big_json,
    )
    store.write([record])
    stored = store.observation(record.id)
    assert stored is not None
    assert stored.control_body == html[:1024]
    assert stored.control_body_size == len(html)
    assert stored.candidate_body is not None
    assert len(stored.candidate_body) == 1024
    assert stored.candidate_body_size == len(big_json)
    # redacted before the cut: the secret sat past byte 1024, and is gone all the same
    assert (
        SECRET.encode() not in store.execute_text("SELECT candidate_body FROM observations")[0][0]
    )


def test_reopening_an_existing_store_keeps_its_data(sqlite_url: str) -> None:
    first = ResultStore.open(sqlite_url, redactor=REDACTOR)
    record = _record()
    first.write([record])
    first.add_noise_counts([NoiseCount("e", "/r", "a", samples=1)])
    first.close()

    again = ResultStore.open(sqlite_url, redactor=REDACTOR)
    try:
        assert again.observation(record.id) == record
        assert again.noise_counts() == [NoiseCount("e", "/r", "a", samples=1)]
    finally:
        again.close()


def test_upgrading_from_the_first_revision_keeps_recorded_evidence(sqlite_url: str) -> None:
    # a store made at the first revision, with evidence in it, opened by this release
    legacy = ResultStore.open(sqlite_url, redactor=REDACTOR, revision="0001")
    record = _record()
    legacy.write([record])
    legacy.close()

    upgraded = ResultStore.open(sqlite_url, redactor=REDACTOR)
    try:
        assert upgraded.current_revision() == upgraded.head_revision()
        assert upgraded.observation(record.id) == record
    finally:
        upgraded.close()


def test_the_migrated_schema_matches_the_tables_the_code_uses(store: ResultStore) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": "parallel_run_alembic_version"}
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


# PostgreSQL: several facade processes on one store ----------------------------------------

_WRITER = """
import sys
from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.store import NoiseCount, ResultStore

url, rounds, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
import time
store = ResultStore.open(url, redactor=Redactor())
time.sleep(max(0.0, start_at - time.time()))
for _ in range(rounds):
    store.add_noise_counts([
        NoiseCount("e", "/r", "a", samples=1, diffs=1),
        NoiseCount("e", "/r", "b", twin_samples=2, twin_diffs=1),
        NoiseCount("e", "/r", "a", samples=1),
    ])
    store.write([ObservationRecord(experiment="e", route="/r", outcome="match")])
store.close()
"""

_OPENER = """
import sys, time
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore

url, start_at = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
ResultStore.open(url, redactor=Redactor()).close()
"""


def _together(script: str, *argv: str, count: int = 2) -> list[subprocess.CompletedProcess[str]]:
    start_at = str(time.time() + 2.0)  # after both interpreters have imported SQLAlchemy
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *argv, start_at],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def test_two_processes_add_noise_counts_exactly(pg_url: str) -> None:
    ResultStore.open(pg_url, redactor=REDACTOR).close()
    rounds = 150
    results = _together(_WRITER, pg_url, str(rounds))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    store = ResultStore.open(pg_url, redactor=REDACTOR)
    try:
        assert store.noise_counts("e") == [
            NoiseCount("e", "/r", "a", samples=4 * rounds, diffs=2 * rounds),
            NoiseCount("e", "/r", "b", twin_samples=4 * rounds, twin_diffs=2 * rounds),
        ]
        assert len(store.observations(experiment="e", limit=10_000)) == 2 * rounds
    finally:
        store.close()


def test_concurrent_openers_migrate_a_new_database_without_failing(
    pg: postgres.PostgresServer,
) -> None:
    url = pg.create_database("migrate_race")
    results = _together(_OPENER, url, count=3)
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    store = ResultStore.open(url, redactor=REDACTOR)
    try:
        assert store.current_revision() == store.head_revision()
        assert {"observations", "noise_counts", "drops"} <= set(store.table_names())
    finally:
        store.close()


def test_concurrent_openers_of_a_new_sqlite_file_do_not_fail(sqlite_url: str) -> None:
    results = _together(_OPENER, sqlite_url, count=3)
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
