"""The compare worker: a thread that classifies each finished shadow call and records it.

Off the event loop because ``compare_http`` parses and walks both bodies
(``parallel_run.json_diff``): tens of microseconds, more for large bodies. Per item:
``parallel_run.observe.classify`` (noise judged by what every facade process learned), the
comparison metric, then the recorder (``facade.shadow.store``: the
``store:`` settings in force), whose own thread writes to the store.

Buffered evidence reaches the recorder within ``NOISE_FLUSH_INTERVAL`` under steady traffic,
and within ``QUIET_FLUSH`` once the hand-off stays empty that long: the noise increments
learned since the last flush, and a request to write counted mismatches now rather than at
their interval. A report run right after a burst then reads the same figures as one run a
minute later. The last flush happens on stop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from facade.config import Config
from facade.config.derived import PerConfig
from facade.config.evidence import compare_rules
from facade.metrics import Metrics
from facade.shadow.handoff import Handoff
from facade.shadow.job import Compared, answer_size
from facade.shadow.store import StoreFollower
from parallel_run.compare import CompareRules
from parallel_run.noise import NoiseTracker
from parallel_run.noise_counts import SharedNoise
from parallel_run.observe import Where, classify, record_of
from parallel_run.recorder import Recorder
from parallel_run.store_import import load_store

log = logging.getLogger("strangler.shadow")
NOISE_FLUSH_INTERVAL = 5.0  # seconds between flushes while comparisons keep coming
QUIET_FLUSH = 0.2  # seconds without a comparison after which buffered evidence is flushed
RETIRE_WAIT = 5.0  # seconds a recorder replaced by a reload gets to write what it holds


class CompareWorker:
    """Classify, count, record; flush buffered evidence on time and when traffic pauses."""

    def __init__(
        self,
        metrics: Metrics,
        handoff: Handoff,
        store: StoreFollower,
        *,
        twins: dict[tuple[str, str], int],
        flush_interval: float = NOISE_FLUSH_INTERVAL,
        quiet: float = QUIET_FLUSH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._handoff = handoff
        self.store = store
        self._twins = twins  # written here, read by the loop (a dict read needs no lock)
        self._flush_interval = flush_interval
        self._quiet = quiet
        self._clock = clock
        self._rules: PerConfig[dict[str, CompareRules]] = PerConfig(lambda _config: {})
        # per capability: the stored + local totals (they judge), the increments for the store
        self._noise: dict[str, SharedNoise] = {}
        self._unflushed = False  # comparisons since the last flush
        self._flushed = clock()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Start the thread (once)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self.run, name="strangler-compare", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float) -> None:
        """Compare what is queued, flush, and end the thread (blocks: call it off the loop)."""
        if self._thread is None:
            return
        try:
            self._handoff.stop(timeout)
        except queue.Full:
            log.warning("shadow: comparisons still queued after %.1fs; left behind", timeout)
            return
        self._thread.join(timeout)

    def run(self) -> None:
        """The thread's loop, until ``stop()``; each wait ends in time for the next flush."""
        while True:
            try:
                item = self._handoff.get(self._quiet if self._unflushed else None)
            except queue.Empty:
                self.flush()  # traffic paused: what was learned goes to the store now
                continue
            if item is None:
                break
            self.compare_safely(item)
            if self._clock() - self._flushed >= self._flush_interval:
                self.flush()
        self.flush()

    def compare_safely(self, item: Compared) -> None:
        job = item.job
        try:
            self.compare(item)
        except Exception:
            # one bad comparison must not end the thread: later ones still count
            log.exception("comparing %s %s failed", job.method, job.target.path)
            self._metrics.shadow_dropped.labels(job.capability, "compare_failed").inc()
        self._unflushed = True

    def compare(self, item: Compared) -> None:
        """Classify one finished call and hand the outcome to the recorder."""
        job, candidate = item.job, item.candidate
        recorder = self._recorder()
        # the totals judge (what every process learned); the pending increments go to the store
        trackers = self._trackers(job.capability) if job.learn_noise else ()
        observed = classify(
            job.legacy,
            candidate,
            rules=self._rules_for(job.config, job.capability),
            route=job.route,
            trackers=trackers,
            twin=item.twin,
        )
        outcome = observed.outcome
        if observed.twin is not None:
            key = (job.capability, job.route)
            self._twins[key] = self._twins.get(key, 0) + 1
        self._metrics.shadow_comparisons.labels(job.capability, outcome).inc()
        if outcome == "match":
            # a match is evidence by its count and latencies: tallied per minute, not a row
            recorder.submit_match(job.capability, job.route, job.legacy_ms, item.candidate_ms)
            return
        where = Where(
            experiment=job.capability, route=job.route, method=job.method, path=job.target.path_qs
        )
        record = record_of(
            observed,
            job.legacy,
            candidate,
            where,
            control_ms=job.legacy_ms,
            candidate_ms=item.candidate_ms,
            candidate_body_size=answer_size(candidate),
        )
        if not recorder.submit(record):
            self._metrics.shadow_dropped.labels(job.capability, "store").inc()

    def flush(self) -> None:
        """Hand the noise increments to the recorder, and ask it to write its tallies now."""
        self._flushed = self._clock()
        self._unflushed = False
        recorder = self.store.recorder
        if recorder is None:
            return
        self._flush_noise(recorder)
        recorder.flush()

    def _flush_noise(self, recorder: Recorder) -> None:
        for capability, noise in self._noise.items():
            rows = noise.take()
            if rows and not recorder.submit_noise(rows):
                self._metrics.shadow_dropped.labels(capability, "noise_counts").inc()

    def _recorder(self) -> Recorder:
        switched = self.store.follow()
        if switched is not None:
            # what was learned so far belongs to the store it was learned for
            self._flush_noise(switched.old)
            self.store.retire(switched.old, timeout=RETIRE_WAIT)
            if switched.url_changed:
                self._noise.clear()  # totals are read again from the new store
        assert self.store.recorder is not None
        return self.store.recorder

    def _rules_for(self, config: Config, capability: str) -> CompareRules:
        rules = self._rules.get(config)
        found = rules.get(capability)
        if found is None:
            found = rules[capability] = compare_rules(
                config.routes.capabilities[capability].compare
            )
        return found

    def _trackers(self, capability: str) -> tuple[NoiseTracker, NoiseTracker]:
        noise = self._noise.get(capability)
        if noise is None:
            noise = self._noise[capability] = self._stored_noise(capability)
        return noise.trackers

    def _stored_noise(self, capability: str) -> SharedNoise:
        """What every facade process learned so far; empty if the store cannot be read now."""
        assert self.store.settings is not None
        # imported here: SQLAlchemy and alembic are loaded once shadow traffic needs the store,
        # not before the facade listens
        load_store()
        from parallel_run.store import open_store

        try:
            store = open_store(self.store.settings)
            try:
                counts = store.noise_counts(capability)
            finally:
                store.close()
        except Exception as exc:  # a store that is down must not stop the comparisons
            log.warning("noise counts for %s not loaded (%s); learning afresh", capability, exc)
            counts = []
        return SharedNoise(capability, counts)
