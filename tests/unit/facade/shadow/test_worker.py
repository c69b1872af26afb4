"""The compare worker: what reaches the recorder, and when buffered evidence is flushed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from facade import config
from facade.metrics import Metrics
from facade.shadow.handoff import Handoff
from facade.shadow.store import StoreFollower
from facade.shadow.worker import CompareWorker
from tests.support.probe import wait_until
from tests.unit.facade.shadow.support import Recorders, answer, compared, routes


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Running:
    """A worker thread fed through its hand-off, with the configuration in force settable."""

    def __init__(self, loaded: config.Config, **options: float) -> None:
        self.config = loaded
        self.recorders = Recorders()
        self.handoff = Handoff()
        self.metrics = Metrics()
        self.clock = Clock()
        store = StoreFollower(lambda: self.config, open_recorder=self.recorders)
        self.worker = CompareWorker(
            self.metrics, self.handoff, store, twins={}, clock=self.clock, **options
        )
        self.worker.start()

    def compared(self) -> int:
        return sum(len(r.records) + len(r.matches) for r in self.recorders.opened)

    def feed(self, *, noisy: bool = False, matching: bool = False) -> None:
        """One comparison; with ``noisy``, a twin whose ``id`` differs (the monolith's noise)."""
        done = self.compared()
        legacy = answer(id=1, price=5)
        candidate = answer(id=1, price=5 if matching else 6)
        twin = answer(id=2, price=5) if noisy else None
        assert self.handoff.put(
            compared(self.config, legacy=legacy, candidate=candidate, twin=twin)
        )
        wait_until(lambda: self.compared() > done, "the comparison is handed over", timeout=10)


@pytest.fixture
def loaded(tmp_path: Path) -> config.Config:
    return routes(tmp_path)


@pytest.fixture
def quiet_never(loaded: config.Config) -> Iterator[Running]:
    running = Running(loaded, quiet=3600, flush_interval=5.0)
    yield running
    running.worker.stop(5)


def test_a_match_is_tallied_and_a_mismatch_keeps_its_record(quiet_never: Running) -> None:
    quiet_never.feed(matching=True)
    quiet_never.feed()
    recorder = quiet_never.recorders.last
    assert recorder.matches == [("c", "/x")]
    (record,) = recorder.records
    assert record.outcome == "mismatch"
    assert "$.price" in {d["path"] for d in record.differences}
    counted = quiet_never.metrics.shadow_comparisons.labels("c", "mismatch")._value.get()
    assert counted == 1


def test_noise_learned_reaches_the_recorder_when_traffic_pauses(loaded: config.Config) -> None:
    running = Running(loaded, quiet=0.05, flush_interval=3600)
    try:
        running.feed(noisy=True)
        recorder = running.recorders.last
        # no more traffic, and the interval is an hour away: the pause alone flushes
        wait_until(lambda: bool(recorder.noise), "the noise counts are handed over", timeout=5)
        assert "value:$.id" in {row.template_path for row in recorder.noise}
        assert recorder.flushes >= 1  # and the recorder is asked to write its tallies now
    finally:
        running.worker.stop(5)


def test_under_steady_traffic_noise_is_flushed_once_per_interval(quiet_never: Running) -> None:
    quiet_never.feed(noisy=True)
    recorder = quiet_never.recorders.last
    assert recorder.noise == []  # within the interval, and traffic never paused
    quiet_never.clock.now = 5.0
    quiet_never.feed(noisy=True)
    assert "value:$.id" in {row.template_path for row in recorder.noise}


def test_stopping_flushes_what_is_buffered(loaded: config.Config) -> None:
    running = Running(loaded, quiet=3600, flush_interval=3600)
    running.feed(noisy=True)
    recorder = running.recorders.last
    assert recorder.noise == []
    running.worker.stop(5)
    assert "value:$.id" in {row.template_path for row in recorder.noise}


def test_a_reload_that_leaves_store_alone_keeps_the_recorder(
    tmp_path: Path, quiet_never: Running
) -> None:
    quiet_never.feed()
    quiet_never.config = routes(tmp_path, name="again.yaml")  # another file, same store:
    quiet_never.feed()
    assert len(quiet_never.recorders.opened) == 1


def test_a_reload_that_changes_store_settings_records_the_next_observation_by_them(
    tmp_path: Path, quiet_never: Running
) -> None:
    quiet_never.feed(noisy=True)
    old = quiet_never.recorders.last
    quiet_never.config = routes(tmp_path, name="redacting.yaml", store=", redact_fields: [ssn]")
    quiet_never.feed()
    new = quiet_never.recorders.last
    assert new is not old
    assert "ssn" in new.settings.redactor.json_fields
    assert len(new.records) == 1  # the observation after the reload went to the new one
    # the old one got what was learned under it, then drains and closes
    assert "value:$.id" in {row.template_path for row in old.noise}
    assert old.closed.wait(5)
    assert not new.closed.is_set()


def test_the_store_metrics_count_what_every_recorder_wrote_across_reloads(
    tmp_path: Path, quiet_never: Running
) -> None:
    quiet_never.feed()
    quiet_never.feed(matching=True)
    quiet_never.config = routes(tmp_path, name="smaller.yaml", store=", body_limit: 1KB")
    quiet_never.feed()
    old, _ = quiet_never.recorders.opened
    assert old.closed.wait(5)
    stats = quiet_never.worker.store.stats()
    assert stats is not None
    assert stats.written == 3  # two before the reload, one after: the gauge never goes back
    assert stats.dropped == {"c": 2}
