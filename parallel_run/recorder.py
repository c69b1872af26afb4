"""The bridge from the event loop to the result store: a bounded queue and one writer thread.

CONTRACT.md: "The result store is never on the request path: while it is unreachable or
locked, clients are unaffected, lost comparisons are counted as dropped, and recording resumes
by itself once the store is back." So:

- ``submit()`` never blocks and never raises: a full queue returns False and counts a drop;
- a daemon writer thread drains the queue in batches (``batch_size`` records, or whatever
  arrived within ``batch_interval`` seconds) and writes each batch in one transaction;
- the store is opened by that thread, lazily: a store that is down when the facade starts
  costs nothing but drops;
- when a batch cannot be written (store unreachable, locked, full disk), its records are
  counted as dropped per experiment, the error is logged once per ``error_log_interval``
  (not once per batch), and the thread retries with exponential backoff; meanwhile new
  records wait in the queue, or are dropped by ``submit()`` once it is full;
- ``submit_match()`` counts a comparison that matched into a per-minute ``MatchTally``
  instead of queueing a record: a match is evidence by its count and latencies, and a row per
  match made the store the busiest part of shadow mode; tallies are written with each batch
  (at least every ``batch_interval``), and lost with their counts as drops if that fails;
- ``submit()`` of a comparison that did not match keeps it whole (bodies redacted and cut to
  ``body_limit`` right away, so the queue never holds a large answer) only for the first
  ``sampling.examples`` of its signature per ``sampling.window``; later ones are counted in
  per-minute ``MismatchTally`` rows like matches (written at least every ``tally_interval``),
  so a candidate that answers every request wrongly costs counts, not rows. At most
  ``MAX_TALLY_KEYS`` tally keys per experiment and minute: past that, new signatures are
  counted under ``OTHER_SIGNATURE`` (a candidate inventing new JSON keys in every answer
  cannot grow the tallies with its traffic);
- the store refuses rows past an experiment's ``max_bytes`` and counts them instead
  (``ResultStore.record``): ``stats().examples_dropped`` and the store's ``example_drops``;
- drop counts are kept in memory and written to the store's ``drops`` table as soon as it
  works again, so reports count what was lost.

No asyncio here: the facade calls ``submit()`` from the loop, which is a ``put_nowait``.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.sampling import ExampleSampler, SamplePolicy
from parallel_run.store_import import load_store
from parallel_run.store_settings import DEFAULT_BODY_LIMIT, StoreSettings
from parallel_run.tallies import (
    EndpointTally,
    MatchTally,
    MismatchTally,
    NoiseCount,
    TallyKey,
    minute_of,
)

if TYPE_CHECKING:
    from parallel_run.store import ResultStore

log = logging.getLogger("strangler.parallel_run.recorder")

_STOP = object()
_NOISE_EXPERIMENT = "noise"
MAX_TALLY_KEYS = 200  # distinct mismatch tally keys per experiment and minute
OTHER_SIGNATURE = "(other signatures)"


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """Counters since the recorder started."""

    submitted: int
    written: int
    dropped: dict[str, int] = field(default_factory=dict)
    noise_dropped: int = 0
    queued: int = 0
    store_ok: bool = False
    last_error: str | None = None
    # counted, not stored: beyond the examples per signature (by design) ...
    counted_only: int = 0
    # ... and examples refused because the experiment's share of the store was full
    examples_dropped: dict[str, int] = field(default_factory=dict)
    # requests counted per endpoint (``submit_endpoint_tallies``): written, and lost (the
    # queue full, or the store down)
    endpoint_written: int = 0
    endpoint_dropped: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class Recorder:
    """Records observations off the event loop; see the module docstring for the rules."""

    def __init__(
        self,
        opener: Callable[[], ResultStore],
        *,
        redactor: Redactor | None = None,
        maxsize: int = 10_000,
        batch_size: int = 200,
        batch_interval: float = 0.25,
        error_log_interval: float = 30.0,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        purge_interval: float = 3600.0,
        sampling: SamplePolicy | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        tally_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maxsize < 1 or batch_size < 1:
            raise ValueError(f"maxsize and batch_size must be >= 1, not {maxsize}, {batch_size}")
        self._opener = opener
        self._redactor = redactor or Redactor()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._batch_size = batch_size
        self._batch_interval = batch_interval
        self._error_log_interval = error_log_interval
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._purge_interval = purge_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: ResultStore | None = None
        # counters, under _lock
        self._submitted = 0
        self._written = 0
        self._dropped: Counter[str] = Counter()
        self._pending_drops: Counter[str] = Counter()
        self._noise_dropped = 0
        self._endpoint_written = 0
        self._endpoint_dropped = 0
        self._last_error: str | None = None
        self._store_ok = False
        # matches not yet written, by (experiment, route, run id, minute); under _lock
        self._tallies: dict[tuple[str, str, str | None, datetime], MatchTally] = {}
        self._tallies_writing = False
        # comparisons that did not match and are counted only; under _lock
        self._sampler = ExampleSampler(sampling or SamplePolicy())
        self._body_limit = body_limit
        self._tally_interval = tally_interval
        self._mismatches: dict[TallyKey, MismatchTally] = {}
        self._minute_keys: dict[tuple[str, datetime], set[TallyKey]] = {}
        self._counted_only = 0
        self._examples_dropped: Counter[str] = Counter()
        self._flush_requested = False
        self._mismatches_flushed = clock()
        # writer-thread state
        self._failures = 0
        self._last_logged: float | None = None
        self._dropped_since_logged = 0
        self._next_purge = 0.0

    @classmethod
    def for_store(cls, settings: StoreSettings, **options: Any) -> Recorder:
        """A recorder whose thread opens ``open_store(settings)`` when it first needs it."""
        return cls(lambda: _open_store(settings), redactor=settings.redactor, **options)

    # the event loop's side ---------------------------------------------------------------

    def start(self) -> Recorder:
        """Start the writer thread (once)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="strangler-recorder", daemon=True
                )
                self._thread.start()
        return self

    def submit(self, record: ObservationRecord) -> bool:
        """Queue ``record`` for writing (or count it, past its signature's examples); False
        (and a counted drop) if the queue is full. Called off the event loop: an example's
        bodies are redacted here, so the queue holds them cut to ``body_limit``."""
        if record.outcome != "match":
            key = (record.experiment, record.run_id, record.outcome, record.signature)
            with self._lock:
                example = self._sampler.keep(key, now=self._clock())
                if not example:
                    self._submitted += 1
                    self._counted_only += 1
                    self._count_mismatch(record)
                    return True
            record = record.redacted(self._redactor, self._body_limit)
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            with self._lock:
                self._submitted += 1
                self._count_drops({record.experiment: 1})
            return False
        with self._lock:
            self._submitted += 1
        return True

    def count_drops(self, counts: Mapping[str, int]) -> None:
        """Comparisons lost before they reached the recorder (a bounded queue in front of it
        was full), by experiment: counted and written into the store's drops as its own are."""
        with self._lock:
            self._count_drops(Counter(counts))

    def submit_match(
        self,
        experiment: str,
        route: str,
        control_ms: float | None,
        candidate_ms: float | None,
        *,
        run_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Count one comparison that matched; never blocks on the store, never raises."""
        minute = minute_of(at or datetime.now(UTC))
        key = (experiment, route, run_id, minute)
        with self._lock:
            self._submitted += 1
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = MatchTally(experiment, route, minute, run_id)
            tally.add(control_ms, candidate_ms)

    def _count_mismatch(self, record: ObservationRecord) -> None:
        # caller holds _lock
        tally = MismatchTally.of(record)
        seen = self._minute_keys.setdefault((record.experiment, tally.minute), set())
        if tally.key not in seen:
            if len(seen) >= MAX_TALLY_KEYS:
                tally.signature, tally.shape, tally.candidate_error = OTHER_SIGNATURE, (), None
            else:
                seen.add(tally.key)
                if len(self._minute_keys) > 4 * MAX_TALLY_KEYS:
                    self._forget_minutes(tally.minute)
        tally = self._mismatches.setdefault(tally.key, tally)
        tally.add(record.control_ms, record.candidate_ms)

    def _forget_minutes(self, minute: datetime) -> None:
        # caller holds _lock; the keys of minutes over are never looked up again
        for key in [key for key in self._minute_keys if key[1] < minute]:
            del self._minute_keys[key]

    def submit_noise(self, deltas: Iterable[NoiseCount]) -> bool:
        """Queue noise-count increments; False if the queue is full (they are then lost)."""
        batch = tuple(deltas)
        if not batch:
            return True
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            with self._lock:
                self._noise_dropped += len(batch)
            return False
        return True

    def submit_endpoint_tallies(self, tallies: Iterable[EndpointTally]) -> bool:
        """Queue requests counted per endpoint (``parallel_run.endpoint_traffic``); False, and
        their requests counted as dropped, if the queue is full."""
        batch = _EndpointBatch(tallies)
        if not batch.tallies:
            return True
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            with self._lock:
                self._endpoint_dropped += batch.requests
            return False
        return True

    def flush(self) -> None:
        """Write the tallies with the next batch, counted mismatches too, without waiting for
        their interval (the shadow worker calls it when its traffic pauses: a report run then
        reads what was counted)."""
        with self._lock:
            self._flush_requested = True

    def stats(self) -> RecorderStats:
        with self._lock:
            return RecorderStats(
                submitted=self._submitted,
                written=self._written,
                dropped=dict(self._dropped),
                noise_dropped=self._noise_dropped,
                queued=self._queue.qsize(),
                store_ok=self._store_ok,
                last_error=self._last_error,
                counted_only=self._counted_only,
                examples_dropped=dict(self._examples_dropped),
                endpoint_written=self._endpoint_written,
                endpoint_dropped=self._endpoint_dropped,
            )

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued item was written or dropped; False on timeout (tests)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._flush_requested = True  # counted mismatches too, without their interval
        while time.monotonic() < deadline:
            if self._idle():
                return True
            time.sleep(0.01)
        return self._idle()

    def _idle(self) -> bool:
        with self._lock:
            tallies = bool(self._tallies) or bool(self._mismatches) or self._tallies_writing
        return self._queue.unfinished_tasks == 0 and not tallies

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (one last attempt), stop the thread and close the store."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            deadline = time.monotonic() + timeout
            # a full queue: the thread sees _stop after its current batch instead
            with suppress(queue.Full):
                self._queue.put(_STOP, timeout=max(timeout / 2, 0.01))
            thread.join(max(deadline - time.monotonic(), 0.01))
            if thread.is_alive():
                log.warning("recorder: writer thread still busy after %.1fs; left behind", timeout)
                return
        elif self._store is not None:
            self._store.close()

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                records, noise, endpoints, stop, taken = self._take_batch()
                try:
                    self._write(records, noise, endpoints)
                finally:
                    # only now: wait_idle() means "written or counted as dropped"
                    for _ in range(taken):
                        self._queue.task_done()
                if stop:
                    break
                if self._failures:
                    self._backoff()
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _take_batch(
        self,
    ) -> tuple[list[ObservationRecord], list[NoiseCount], list[EndpointTally], bool, int]:
        records: list[ObservationRecord] = []
        noise: list[NoiseCount] = []
        endpoints: list[EndpointTally] = []
        stop = False
        taken = 0
        deadline: float | None = None
        while len(records) < self._batch_size:
            if deadline is None:
                wait = self._batch_interval
            else:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                waiting = self._tallies or self._pending_drops or self._flush_requested
                taken_some = records or noise or endpoints
                if self._stop.is_set() or taken_some or waiting or self._mismatches:
                    stop = self._stop.is_set()
                    break
                continue
            taken += 1
            if item is _STOP:
                stop = True
                # drain what is left: close() flushes everything queued before it
                deadline = time.monotonic()
                while True:
                    try:
                        rest = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    taken += 1
                    _sort(rest, records, noise, endpoints)
                break
            _sort(item, records, noise, endpoints)
            if deadline is None:
                deadline = time.monotonic() + self._batch_interval
        return records, noise, endpoints, stop, taken

    def _write(
        self,
        records: list[ObservationRecord],
        noise: list[NoiseCount],
        endpoints: list[EndpointTally] | None = None,
    ) -> None:
        now = self._clock()
        with self._lock:
            pending = Counter(self._pending_drops)
            tallies = list(self._tallies.values())
            self._tallies = {}
            mismatches: list[MismatchTally] = []
            due = now - self._mismatches_flushed >= self._tally_interval
            if due or self._flush_requested or self._stop.is_set():
                # fewer, fuller rows: a tally row per key per interval, not per batch
                mismatches = list(self._mismatches.values())
                self._mismatches = {}
                self._mismatches_flushed = now
                self._flush_requested = False
            self._tallies_writing = bool(tallies) or bool(mismatches)
        try:
            self._write_batch(records, noise, tallies, pending, mismatches, endpoints or [])
        finally:
            with self._lock:
                self._tallies_writing = False

    def _write_batch(
        self,
        records: list[ObservationRecord],
        noise: list[NoiseCount],
        tallies: list[MatchTally],
        pending: Counter[str],
        mismatches: list[MismatchTally] | None = None,
        endpoints: list[EndpointTally] | None = None,
    ) -> None:
        mismatches = mismatches or []
        endpoints = endpoints or []
        if not (records or noise or tallies or pending or mismatches or endpoints):
            return
        requests = 0
        matched = sum(tally.count for tally in tallies) + sum(t.count for t in mismatches)
        folded: dict[str, int] = {}
        try:
            store = self._open()
            if records:
                folded = dict(store.record(records).folded)
            if tallies:
                store.add_match_tallies(tallies)
            if mismatches:
                store.add_mismatch_tallies(mismatches)
            if noise:
                store.add_noise_counts(noise)
            if pending:
                store.add_drop_counts(pending)
            if endpoints:
                # this thread opened the store: SQLAlchemy is imported (store_import)
                from parallel_run.endpoint_traffic import add_endpoint_tallies

                requests = add_endpoint_tallies(store, endpoints)
            self._maybe_purge(store)
        except Exception as exc:  # any store failure is a drop, never a crash
            with self._lock:
                self._endpoint_dropped += sum(t.count for t in endpoints)
            self._failed(exc, records, noise, [*tallies, *mismatches])
            return
        if self._failures:
            # logged before the counters show the write: whoever sees them also sees this line
            log.warning(
                "result store: recording resumed after %d failed attempt(s); %d dropped meanwhile",
                self._failures,
                self._dropped_since_logged + sum(pending.values()),
            )
        with self._lock:
            self._written += len(records) + matched
            self._endpoint_written += requests
            self._examples_dropped.update(folded)
            self._pending_drops -= pending
            self._store_ok = True
        self._failures = 0
        self._dropped_since_logged = 0
        self._last_logged = None

    def _open(self) -> ResultStore:
        if self._store is None:
            self._store = self._opener()
        return self._store

    def _maybe_purge(self, store: ResultStore) -> None:
        now = self._clock()
        if now >= self._next_purge:
            self._next_purge = now + self._purge_interval
            store.purge_expired()

    def _count_drops(self, counts: dict[str, int] | Counter[str]) -> None:
        # caller holds _lock
        self._dropped.update(counts)
        self._pending_drops.update(counts)

    def _failed(
        self,
        exc: Exception,
        records: list[ObservationRecord],
        noise: list[NoiseCount],
        tallies: list[MatchTally | MismatchTally],
    ) -> None:
        lost = Counter(record.experiment for record in records)
        for tally in tallies:
            lost[tally.experiment] += tally.count
        message = self._describe(exc)
        with self._lock:
            self._count_drops(lost)
            self._noise_dropped += len(noise)
            self._last_error = message
            self._store_ok = False
        self._failures += 1
        self._dropped_since_logged += sum(lost.values())
        now = self._clock()
        if self._last_logged is None or now - self._last_logged >= self._error_log_interval:
            self._last_logged = now
            log.error(
                "result store unavailable, observations are dropped (%d so far): %s;"
                " retrying, next report in %.0fs",
                self._dropped_since_logged,
                message,
                self._error_log_interval,
            )

    def _describe(self, exc: Exception) -> str:
        # the driver's own message, never SQLAlchemy's, which quotes the SQL and parameters
        cause = getattr(exc, "orig", None) or exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        text = f"{type(cause).__name__}: {first}" if first else type(cause).__name__
        text = _URL_PASSWORD.sub(r"\1***@", text)
        return self._redactor.text(text)[:500]

    def _backoff(self) -> None:
        delay = min(self._retry_max, self._retry_initial * 2 ** (self._failures - 1))
        self._stop.wait(delay)


class _EndpointBatch:
    """A queue item: requests counted per endpoint, to be written in one batch."""

    __slots__ = ("requests", "tallies")

    def __init__(self, tallies: Iterable[EndpointTally]) -> None:
        self.tallies = tuple(t for t in tallies if t.count > 0)
        self.requests = sum(t.count for t in self.tallies)


def _sort(
    item: Any,
    records: list[ObservationRecord],
    noise: list[NoiseCount],
    endpoints: list[EndpointTally],
) -> None:
    """Put a queue item with its kind (the stop marker goes nowhere)."""
    if isinstance(item, ObservationRecord):
        records.append(item)
    elif isinstance(item, _EndpointBatch):
        endpoints.extend(item.tallies)
    elif isinstance(item, tuple):
        noise.extend(item)


_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def _open_store(settings: StoreSettings) -> ResultStore:
    """``parallel_run.store.open_store``, imported here: SQLAlchemy and alembic (about a second
    of a start) are loaded by the recorder's thread when it first writes, not by whoever
    imports the recorder (the facade, before it listens)."""
    load_store()
    from parallel_run.store import open_store

    return open_store(settings)
