"""The recorder keeps the store off the request path: drops are counted, recording resumes."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parallel_run.record import ObservationRecord
from parallel_run.recorder import Recorder
from parallel_run.redact import Redactor
from parallel_run.store import NoiseCount, ResultStore
from parallel_run.store_settings import StoreSettings
from tests.support import postgres
from tests.support.processes import free_port

pytestmark = pytest.mark.integration

REDACTOR = Redactor()
LOGGER = "strangler.parallel_run.recorder"


def _record(experiment: str = "catalog.products") -> ObservationRecord:
    return ObservationRecord(
        experiment=experiment, route="/api/products", method="GET", outcome="match"
    )


def _until(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/strangler.db"


@pytest.fixture
def store(url: str) -> Iterator[ResultStore]:
    opened = ResultStore.open(url, redactor=REDACTOR)
    yield opened
    opened.close()


def _fast(url: str, **options: object) -> Recorder:
    defaults: dict[str, object] = {
        "batch_interval": 0.02,
        "retry_initial": 0.02,
        "retry_max": 0.1,
        "error_log_interval": 60.0,
    }
    defaults.update(options)
    return Recorder.for_store(
        StoreSettings(url, REDACTOR, busy_timeout_ms=50, connect_timeout_s=1),
        **defaults,
    )


def test_a_full_queue_refuses_at_once_and_counts_the_drop(url: str, store: ResultStore) -> None:
    recorder = _fast(url, maxsize=2)
    assert recorder.submit(_record())
    assert recorder.submit(_record("orders"))
    started = time.monotonic()
    assert not recorder.submit(_record("orders"))
    assert time.monotonic() - started < 0.05
    stats = recorder.stats()
    assert (stats.submitted, stats.dropped) == (3, {"orders": 1})

    recorder.start()
    recorder.close(timeout=10)
    assert recorder.stats().written == 2
    assert len(store.observations()) == 2
    assert store.dropped() == {"orders": 1}


def test_drops_counted_in_front_of_the_recorder_reach_the_store(
    url: str, store: ResultStore
) -> None:
    # the compare service's full queue: lost before a record was made
    recorder = _fast(url).start()
    recorder.count_drops({"orders": 3, "catalog.products": 1})
    _until(lambda: store.dropped() == {"orders": 3, "catalog.products": 1})
    recorder.close(timeout=10)
    assert recorder.stats().dropped == {"orders": 3, "catalog.products": 1}


def test_close_flushes_everything_queued(url: str, store: ResultStore) -> None:
    recorder = _fast(url, batch_size=7).start()
    for _ in range(50):
        assert recorder.submit(_record())
    assert recorder.submit_noise([NoiseCount("catalog.products", "/r", "a", samples=1)])
    recorder.close(timeout=10)
    assert len(store.observations(limit=1000)) == 50
    assert store.noise_counts() == [NoiseCount("catalog.products", "/r", "a", samples=1)]
    assert recorder.stats().written == 50


def test_matches_are_tallied_not_queued_and_written_within_a_batch_interval(
    url: str, store: ResultStore
) -> None:
    recorder = _fast(url, maxsize=1).start()
    try:
        for ms in range(1, 501):  # a queue of one would refuse all but one record
            recorder.submit_match("catalog.products", "/api/products/{id}", float(ms), 2.0)
        assert recorder.wait_idle(10)
        summary = store.summary(datetime.now(UTC) - timedelta(minutes=2))["catalog.products"]
        assert (summary.matches, summary.comparisons) == (500, 500)
        assert summary.control_ms.p50 == pytest.approx(250, rel=0.01)
        assert store.observations() == []  # no row per match
        stats = recorder.stats()
        assert (stats.submitted, stats.written, stats.dropped) == (500, 500, {})
    finally:
        recorder.close(timeout=10)


def test_tallied_matches_lost_while_the_store_is_locked_are_counted_as_drops(
    url: str, store: ResultStore
) -> None:
    locker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    recorder = _fast(url).start()
    try:
        for _ in range(3):
            recorder.submit_match("catalog.products", "/r", 1.0, 1.0)
        assert recorder.wait_idle(10)
        assert recorder.stats().dropped == {"catalog.products": 3}
        locker.execute("ROLLBACK")
        recorder.submit_match("catalog.products", "/r", 1.0, 1.0)
        _until(lambda: store.dropped() == {"catalog.products": 3})
        _until(lambda: recorder.stats().written == 1)
    finally:
        locker.close()
        recorder.close(timeout=10)


def test_a_locked_sqlite_store_drops_logs_once_and_resumes_when_unlocked(
    url: str, store: ResultStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    locker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    recorder = _fast(url).start()
    try:
        for _ in range(4):
            assert recorder.submit(_record())
            assert recorder.wait_idle(10)
        stats = recorder.stats()
        assert stats.dropped == {"catalog.products": 4}
        assert stats.written == 0
        assert not stats.store_ok
        assert stats.last_error is not None
        assert "locked" in stats.last_error
        assert len(_errors(caplog)) == 1  # four failed batches, one log line

        locker.execute("ROLLBACK")
        assert recorder.submit(_record())
        _until(lambda: recorder.stats().written == 1)
        _until(lambda: store.dropped() == {"catalog.products": 4})
        assert recorder.stats().store_ok
        assert any("resumed" in r.getMessage() for r in caplog.records if r.name == LOGGER)
    finally:
        locker.close()
        recorder.close(timeout=10)


def test_the_error_is_logged_again_once_the_interval_passed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    failures = 0

    def broken() -> ResultStore:
        nonlocal failures
        failures += 1
        raise OSError("store down")

    recorder = Recorder(
        broken, batch_interval=0.01, retry_initial=0.01, retry_max=0.01,
        error_log_interval=30.0, clock=lambda: now[0],
    ).start()  # fmt: skip
    try:
        for step in (0.0, 10.0, 29.0, 31.0, 40.0, 62.0):
            now[0] = step
            assert recorder.submit(_record())
            assert recorder.wait_idle(10)
        assert len(_errors(caplog)) == 3  # at 0, 31 and 62
        assert recorder.stats().dropped == {"catalog.products": 6}
    finally:
        recorder.close(timeout=10)


def test_an_unreachable_postgresql_drops_then_recording_resumes_when_it_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    url = f"postgresql+psycopg://postgres:hunter2@127.0.0.1:{port}/strangler"
    recorder = _fast(url).start()
    try:
        for _ in range(3):
            assert recorder.submit(_record())
            assert recorder.wait_idle(10)
        stats = recorder.stats()
        assert stats.dropped == {"catalog.products": 3}
        assert len(_errors(caplog)) == 1
        assert "hunter2" not in caplog.text
        assert stats.last_error is not None
        assert "hunter2" not in stats.last_error

        with postgres.running(port=port) as server:
            assert recorder.submit(_record())
            _until(lambda: recorder.stats().written > 0)
            recorder.close(timeout=10)
            final = recorder.stats()
            check = ResultStore.open(server.url, redactor=REDACTOR)
            try:
                assert len(check.observations(limit=1000)) == final.written
                # 3, or 4 if a retry hit the server before its database was created
                assert check.dropped() == final.dropped
                assert final.written + final.dropped_total == final.submitted
            finally:
                check.close()
    finally:
        recorder.close(timeout=10)
