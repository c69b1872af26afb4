"""Bounded evidence in the result store and the recorder, on SQLite and a real PostgreSQL:
examples past a capability's share are counted, not stored; mismatches past the examples per
signature are tallied; every count (summary, timeline, error texts, the gate) stays exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parallel_run import recorder as recorder_module
from parallel_run.latency import LatencyHistogram
from parallel_run.record import ObservationRecord
from parallel_run.recorder import OTHER_SIGNATURE, Recorder
from parallel_run.redact import Redactor
from parallel_run.sampling import SamplePolicy
from parallel_run.store import ROW_OVERHEAD, MismatchTally, ResultStore, minute_of
from parallel_run.store_settings import StoreSettings
from strangler.lifecycle.steps import evidence_for
from tests.support import postgres

pytestmark = pytest.mark.integration

REDACTOR = Redactor()
EXPERIMENT = "catalog"
NOW = datetime.now(UTC)


def mismatch(signature: str = "body", **overrides: Any) -> ObservationRecord:
    fields: dict[str, Any] = {
        "experiment": EXPERIMENT,
        "route": "/p/{id}",
        "method": "GET",
        "path": "/p/1",
        "outcome": "mismatch",
        "control_status": 200,
        "candidate_status": 200,
        "control_ms": 10.0,
        "candidate_ms": 20.0,
        "signature": signature,
        "differences": ({"path": signature, "template_path": signature, "kind": "body"},),
        "control_body": b"c" * 2000,
        "candidate_body": b"d" * 2000,
        "created_at": NOW,
    }
    fields.update(overrides)
    return ObservationRecord(**fields)


@pytest.fixture(scope="module")
def pg() -> Iterator[postgres.PostgresServer]:
    with postgres.running() as server:
        yield server


_databases = iter(range(1, 1000))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/strangler.db"
    server: postgres.PostgresServer = request.getfixturevalue("pg")
    return server.create_database(f"evidence_{next(_databases)}")


def open_store(url: str, **options: Any) -> ResultStore:
    return ResultStore.open(url, redactor=REDACTOR, body_limit=1024, **options)


def test_records_past_an_experiments_share_are_counted_not_stored(url: str) -> None:
    # a row here costs ~2.7 KB (two 1 KiB bodies, its JSON, the overhead): three fit
    store = open_store(url, max_bytes=9000)
    try:
        written = store.record([mismatch() for _ in range(10)])
        assert written.rows == 3
        assert written.folded == {EXPERIMENT: 7}
        # another experiment has a share of its own
        assert store.record([mismatch(experiment="orders")]).rows == 1
        assert store.stored_bytes()[EXPERIMENT] <= 9000
        since = NOW - timedelta(minutes=5)
        summary = store.summary(since, experiment=EXPERIMENT)[EXPERIMENT]
        assert (summary.comparisons, summary.mismatches, summary.examples_dropped) == (10, 10, 7)
        assert [(s.signature, s.count) for s in summary.top_signatures] == [("body", 10)]
        assert summary.top_signatures[0].example_id  # one of the stored rows
        assert summary.candidate_ms.count == 10
        (bucket,) = store.timeline(since, until=NOW + timedelta(minutes=1), buckets=1)[EXPERIMENT]
        assert bucket.mismatches == 10
        # the gate reads the same counts
        gate = evidence_for(store, EXPERIMENT, window=3600, now=NOW + timedelta(seconds=1))
        assert (gate.comparisons, gate.mismatches) == (10, 10)
    finally:
        store.close()


def test_mismatch_tallies_count_everywhere_a_row_would(url: str) -> None:
    store = open_store(url)
    minute = minute_of(NOW)
    try:
        timeout = MismatchTally(EXPERIMENT, "/p/{id}", minute, "candidate_error", "error",
                                candidate_error="timeout", shape=(("error", "error"),))  # fmt: skip
        timeout.add(10.0, 2000.0, count=4)
        price = MismatchTally(EXPERIMENT, "/p/{id}", minute, "mismatch", "$.price",
                              shape=(("$.price", "value"),))  # fmt: skip
        price.add(10.0, 30.0, count=6)
        assert store.add_mismatch_tallies([timeout, price]) == 10
        store.write([mismatch("$.price", candidate_error=None)])
        since = minute - timedelta(minutes=1)
        summary = store.summary(since, experiment=EXPERIMENT)[EXPERIMENT]
        assert (summary.mismatches, summary.candidate_errors) == (7, 4)
        assert {s.signature: s.count for s in summary.top_signatures} == {"$.price": 7, "error": 4}
        assert {p.path: p.count for p in summary.top_paths} == {"$.price": 7, "error": 4}
        assert store.candidate_error_counts(since)[EXPERIMENT] == {"timeout": 4}
        # a path learned as noise later excuses tallied mismatches as it does rows
        summary = store.summary(
            since, experiment=EXPERIMENT, excuse=lambda _e, _r, diffs: all(
                d["template_path"] == "$.price" for d in diffs
            )
        )[EXPERIMENT]  # fmt: skip
        assert (summary.mismatches, summary.matches, summary.excused) == (0, 7, 7)
        span = store.run_span("no-such-run")
        assert span is None
    finally:
        store.close()


def test_expired_tallies_and_example_drops_are_purged(url: str) -> None:
    store = open_store(url, max_bytes=0, retention_seconds=3600)
    old = NOW - timedelta(hours=2)
    try:
        assert store.record([mismatch(created_at=old), mismatch()]).folded == {EXPERIMENT: 2}
        tally = MismatchTally(EXPERIMENT, "/p/{id}", minute_of(old), "mismatch", "body")
        tally.add(1.0, 1.0)
        store.add_mismatch_tallies([tally])
        store.purge_expired()
        ((tallies,),) = store.execute_text("SELECT sum(count) FROM mismatch_tallies")
        assert int(tallies) == 1
        assert store.examples_dropped() == {EXPERIMENT: 2}  # dropped now, though recorded old
        store.purge_expired(now=NOW + timedelta(hours=2))
        assert store.execute_text("SELECT count(*) FROM mismatch_tallies") == [(0,)]
        assert store.examples_dropped() == {}
    finally:
        store.close()


def test_upgrading_from_0003_gives_each_stored_row_its_cost(url: str) -> None:
    old = ResultStore.open(url, redactor=REDACTOR, revision="0003")
    record = mismatch()
    old.write([record])
    old.close()
    store = open_store(url)
    try:
        assert store.current_revision() == store.head_revision()
        assert store.stored_bytes() == {EXPERIMENT: ROW_OVERHEAD + 4000}
        assert store.observation(record.id) is not None
    finally:
        store.close()


# the recorder --------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def recorder(url: str, clock: Clock, **options: Any) -> Recorder:
    return Recorder.for_store(
        StoreSettings(url, REDACTOR, body_limit=1024),
        batch_interval=0.02,
        clock=clock,
        **options,
    )


def test_the_recorder_keeps_examples_per_signature_and_window_and_counts_the_rest(
    url: str,
) -> None:
    clock = Clock()
    with recorder(url, clock, sampling=SamplePolicy(examples=2, window=60)) as rec:
        for _ in range(10):
            assert rec.submit(mismatch("body"))
        for _ in range(3):
            assert rec.submit(mismatch("$.price"))
        clock.now = 61  # a new window: two more examples of "body"
        for _ in range(3):
            assert rec.submit(mismatch("body"))
        assert rec.wait_idle(15)
        stats = rec.stats()
    assert (stats.submitted, stats.counted_only) == (16, 10)
    store = open_store(url)
    try:
        summary = store.summary(NOW - timedelta(minutes=5), experiment=EXPERIMENT)[EXPERIMENT]
        assert summary.mismatches == 16
        assert {s.signature: s.count for s in summary.top_signatures} == {"body": 13, "$.price": 3}
        assert len(store.observations(experiment=EXPERIMENT, limit=100)) == 6
        # the examples were cut before they were queued, and again no further when stored
        for example in store.observations(experiment=EXPERIMENT, limit=100):
            assert example.candidate_body == b"d" * 1024
    finally:
        store.close()


def test_a_candidate_inventing_signatures_cannot_grow_the_tallies(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "MAX_TALLY_KEYS", 3)
    with recorder(url, Clock(), sampling=SamplePolicy(examples=0)) as rec:
        for n in range(20):
            rec.submit(mismatch(f"$.key{n}"))
        assert rec.wait_idle(15)
    store = open_store(url)
    try:
        rows = store.execute_text("SELECT signature, sum(count) FROM mismatch_tallies GROUP BY 1")
        counts = {signature: int(n) for signature, n in rows}
        assert counts == {"$.key0": 1, "$.key1": 1, "$.key2": 1, OTHER_SIGNATURE: 17}
        assert store.summary(NOW - timedelta(minutes=5))[EXPERIMENT].mismatches == 20
    finally:
        store.close()


def test_tallied_latencies_join_the_percentiles(url: str) -> None:
    store = open_store(url)
    try:
        tally = MismatchTally(EXPERIMENT, "/p/{id}", minute_of(NOW), "mismatch", "body")
        for ms in range(1, 101):
            tally.add(float(ms), float(ms) * 2)
        store.add_mismatch_tallies([tally])
        summary = store.summary(NOW - timedelta(minutes=5))[EXPERIMENT]
        expected = LatencyHistogram()
        expected.extend(float(ms) * 2 for ms in range(1, 101))
        assert summary.candidate_ms.count == 100
        assert summary.candidate_ms.p50 == expected.percentile(50)
    finally:
        store.close()
