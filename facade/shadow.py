"""Shadow mode: the candidate service gets the same request in the background, off the
request path, and both answers are compared and recorded.

The client's answer never waits for any of this. Three bounded stages, each counting what it
has to drop rather than ever blocking a request:

1. ``offer`` (on the event loop, after the monolith's answer was relayed): at most
   as many candidate calls at once as the service's connection pool holds
   (``max_concurrency``, at most ``MAX_IN_FLIGHT``); beyond that the job is dropped, so a
   call never waits for a connection inside its own timeout (a slow service would otherwise
   be recorded as failing when it was the facade's queue that was full).
2. The candidate call (a background task with its own timeout): its failure is an
   observation ("candidate_error"), never an outage.
3. Comparison and recording in a worker thread fed by a bounded queue: ``compare_http`` can
   take milliseconds on a real difference (deepdiff), which must not stall the event loop;
   the ``Recorder`` then writes to the store from its own thread.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from acl.http import HttpResponseData, Translator
from facade.config import Capability, Config
from facade.config.evidence import compare_rules, recorder_options, store_settings
from facade.config.normalize import Target
from facade.errors import UpstreamError
from facade.lean_http import LeanHttpError, LeanPool
from facade.metrics import Metrics
from facade.tasks import spawn
from facade.translate import (
    legacy_request,
    service_headers,
    service_target,
    translate_answer,
    translate_request,
)
from facade.upstream import UpstreamClient, UpstreamSettings
from parallel_run.compare import CompareRules, HttpAnswer
from parallel_run.methods import SAFE_METHODS
from parallel_run.noise import NoiseTracker, should_sample_twin
from parallel_run.noise_counts import tracker_from_counts, tracker_to_counts
from parallel_run.observe import Where, classify, record_of
from parallel_run.recorder import Recorder
from parallel_run.store import open_store
from parallel_run.store_settings import StoreSettings

log = logging.getLogger("strangler.shadow")
SHADOW_HEADER = "X-Strangler-Shadow"  # lets the service tell shadow traffic from real traffic
MAX_IN_FLIGHT = 256
COMPARE_QUEUE = 1024
# bodies (both sides, twins too) waiting for the comparison thread: a candidate answering
# 1 MiB to every request would otherwise hold up to COMPARE_QUEUE of them; past it, the job is
# dropped and counted (compare_queue_full), as when the queue is full
COMPARE_QUEUE_BYTES = 128 * 1024**2
# answers larger than this are not shadowed (the legacy copy is kept in memory meanwhile); a
# candidate's answer is read to one byte more and no further: that byte proves it differs from
# every shadowed legacy answer, and the rest of a 5 MB answer is never read (nor stored: the
# store keeps store.body_limit of it)
MAX_SHADOW_BODY = 1 << 20
READ_LIMIT = MAX_SHADOW_BODY + 1
CLOSE_WAIT = 5.0  # seconds, for each of: candidate calls, comparisons, the store's flush
TWIN_TARGET = 200  # twin calls per route before sampling slows down
NOISE_FLUSH_INTERVAL = 5.0  # seconds between handing noise increments to the store
# Safe methods but TRACE (unless ``shadow.unsafe_methods: send``). A TRACE answer's body is the
# request as the upstream received it: the client's Cookie and Authorization would land in the
# store inside a body, past the redactor (which rewrites headers and JSON fields, not an echoed
# message), and the two echoes always differ anyway (the candidate's carries the shadow header).
SHADOWED_METHODS = SAFE_METHODS - {"TRACE"}


_Compared = tuple["ShadowJob", HttpAnswer, float, HttpAnswer | None]


@dataclass(frozen=True, slots=True)
class ShadowJob:
    """Everything the background call and the comparison need, captured at request time."""

    capability: str
    route: str
    method: str
    target: Target
    headers: CIMultiDict[str]  # the upstream headers the monolith got
    body: bytes | None
    legacy: HttpAnswer
    legacy_ms: float
    candidate: UpstreamClient
    timeout: float
    rules: CompareRules
    legacy_client: UpstreamClient
    twin_fraction: float  # 0..1: call the monolith a second time to learn its noise
    learn_noise: bool
    # with a translator, the candidate is asked in its own terms and its answer turned back
    # into the legacy API's before comparing, so differences read in the legacy vocabulary
    translator: Translator | None = None


def _queued_size(job: ShadowJob, answer: HttpAnswer, twin: HttpAnswer | None) -> int:
    return len(job.legacy.body) + len(answer.body) + (len(twin.body) if twin is not None else 0)


def answer_size(answer: HttpAnswer) -> int:
    """The size of the answer the upstream sent: its declared Content-Length when the body was
    read only up to ``READ_LIMIT``, else the body's length."""
    if len(answer.body) >= READ_LIMIT:
        for value in answer.header_values("content-length"):
            if value.strip().isdigit():
                return max(int(value.strip()), len(answer.body))
    return len(answer.body)


def wants_shadow(capability: Capability, method: str, roll: float) -> bool:
    """Shadow this request? ``SHADOWED_METHODS`` only, unless the capability says ``send``."""
    shadow = capability.shadow
    if method not in SHADOWED_METHODS and shadow.unsafe_methods != "send":
        return False
    return roll * 100 < shadow.percent


class ShadowRunner:
    """The per-process machinery behind shadow mode; started and closed with the facade."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._in_flight: dict[str, int] = {}  # by candidate service
        self._queue: queue.Queue[_Compared | None] = queue.Queue(COMPARE_QUEUE)
        self._queued_bytes = 0  # of the bodies in _queue; under _queued_lock (two threads)
        self._queued_lock = threading.Lock()
        self._rng = random.Random()
        # comparison thread only: per capability, the stored + local noise totals, and the
        # increments not yet handed to the recorder
        self._noise: dict[str, NoiseTracker] = {}
        self._noise_pending: dict[str, NoiseTracker] = {}
        self._noise_flushed = time.monotonic()
        # twin calls compared so far, by (capability, route): written by the comparison
        # thread, read by the loop (a dict read needs no lock under the GIL)
        self._twins: dict[tuple[str, str], int] = {}
        self._thread: threading.Thread | None = None
        self._recorder: Recorder | None = None
        self._store_url: str | None = None
        self._warned_url: str | None = None
        self._store: StoreSettings | None = None
        self._rules: dict[tuple[str, str], CompareRules] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # shadow and twin calls go through lean pools: see facade.lean_http for why
        self._pools: dict[UpstreamSettings, LeanPool] = {}

    # configuration -----------------------------------------------------------------------

    def rules_for(self, config: Config, capability: str) -> CompareRules:
        key = (config.digest, capability)
        rules = self._rules.get(key)
        if rules is None:
            if len(self._rules) > 256:
                self._rules.clear()  # rules of configurations reloaded away
            rules = self._rules[key] = compare_rules(config.routes.capabilities[capability].compare)
        return rules

    def ensure_recorder(self, config: Config) -> None:
        """Start recording to the store named in routes.yaml, on first use.

        The store is opened by the recorder's thread when it first writes, so a store that is
        down at start-up costs dropped observations, never a failed facade.
        """
        if self._recorder is not None:
            if config.store_url != self._store_url and config.store_url != self._warned_url:
                self._warned_url = config.store_url  # once per new URL, not once per request
                log.warning(
                    "store.url changed; the facade keeps %s until restarted", self._store_url
                )
            return
        self._store_url = config.store_url
        self._store = store_settings(config)
        self._recorder = Recorder.for_store(self._store, **recorder_options(config)).start()
        self._thread = threading.Thread(target=self._compare_loop, name="strangler-compare")
        self._thread.daemon = True
        self._thread.start()

    # the event loop's side ----------------------------------------------------------------

    def offer(self, job: ShadowJob) -> bool:
        """Start the candidate call in the background, or count the job as dropped."""
        service = job.candidate.name
        busy = self._in_flight.get(service, 0)
        if busy >= min(MAX_IN_FLIGHT, job.candidate.settings.max_connections):
            self._metrics.shadow_dropped.labels(job.capability, "busy").inc()
            return False
        self._in_flight[service] = busy + 1
        task = spawn(self._call_candidate(job), name=f"shadow-{job.capability}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _call_candidate(self, job: ShadowJob) -> None:
        started = time.perf_counter()
        twin: HttpAnswer | None = None
        try:
            answer = await (
                self._fetch_translated(job, job.translator)
                if job.translator is not None
                else self._fetch(job, job.candidate)
            )
            elapsed = (time.perf_counter() - started) * 1000
            if job.twin_fraction and should_sample_twin(
                self._rng, fraction=self._twin_fraction(job), method=job.method
            ):
                # the monolith asked the same question again: what differs is its own noise
                twin = await self._fetch(job, job.legacy_client)
        finally:
            self._in_flight[job.candidate.name] -= 1
        size = _queued_size(job, answer, twin)
        with self._queued_lock:
            room = self._queued_bytes + size <= COMPARE_QUEUE_BYTES
            if room:
                self._queued_bytes += size
        try:
            if not room:
                raise queue.Full
            self._queue.put_nowait((job, answer, elapsed, twin))
        except queue.Full:
            if room:
                self._release(size)
            self._metrics.shadow_dropped.labels(job.capability, "compare_queue_full").inc()

    def _release(self, size: int) -> None:
        with self._queued_lock:
            self._queued_bytes -= size

    def _twin_fraction(self, job: ShadowJob) -> float:
        """The configured share until a route has ``TWIN_TARGET`` twins, a tenth after that:
        enough to follow a monolith whose noise changes, without doubling its load for good."""
        if self._twins.get((job.capability, job.route), 0) < TWIN_TARGET:
            return job.twin_fraction
        return job.twin_fraction / 10

    async def _fetch_translated(self, job: ShadowJob, translator: Translator) -> HttpAnswer:
        legacy = legacy_request(
            job.method, job.target, CIMultiDictProxy(CIMultiDict(job.headers)), job.body or b""
        )
        outgoing = CIMultiDict(job.headers)
        outgoing.popall("Content-Length", None)  # the translated request frames its own body
        outgoing[SHADOW_HEADER] = "1"
        name = job.candidate.name
        try:
            wanted = translate_request(name, translator, legacy)
            headers = service_headers(outgoing, wanted)
            async with asyncio.timeout(job.timeout):
                got = await self._pool(job.candidate).request(
                    wanted.method,
                    service_target(wanted).path_qs,
                    headers.items(),
                    wanted.body or None,
                    max_body=READ_LIMIT,
                )
            if len(got.body) > MAX_SHADOW_BODY:
                # read to READ_LIMIT as an untranslated candidate is: a cut answer cannot be
                # translated, so it is the candidate's error, never 16 MiB held per shadow
                return HttpAnswer.failed(f"answer over {MAX_SHADOW_BODY} bytes: not translated")
            answer = translate_answer(
                name, translator, legacy, HttpResponseData(got.status, got.headers, got.body)
            )
        except TimeoutError:
            return HttpAnswer.failed("timeout")
        except UpstreamError as exc:
            return HttpAnswer.failed(exc.detail)
        except LeanHttpError as exc:
            return HttpAnswer.failed(str(exc))
        # HEAD was asked as the GET it stands for: its body is what a client never sees, and
        # the monolith's HEAD answer has none
        body = b"" if job.method == "HEAD" else answer.body
        return HttpAnswer(answer.status, answer.headers, body)

    async def _fetch(self, job: ShadowJob, client: UpstreamClient) -> HttpAnswer:
        headers = [*job.headers.items(), (SHADOW_HEADER, "1")]
        try:
            async with asyncio.timeout(job.timeout):
                answer = await self._pool(client).request(
                    job.method, job.target.path_qs, headers, job.body, max_body=READ_LIMIT
                )
        except TimeoutError:
            return HttpAnswer.failed("timeout")
        except LeanHttpError as exc:
            return HttpAnswer.failed(str(exc))
        return HttpAnswer(answer.status, answer.headers, answer.body)

    def _pool(self, client: UpstreamClient) -> LeanPool:
        """The lean keep-alive pool for ``client``'s settings (a reload may change them)."""
        pool = self._pools.get(client.settings)
        if pool is None:
            if len(self._pools) > 64:
                self._close_pools()  # settings reloaded away; in-flight calls finish regardless
            pool = self._pools[client.settings] = LeanPool(
                client.base,
                connect_timeout=client.settings.connect_timeout,
                max_idle=client.settings.max_connections,
            )
        return pool

    def _close_pools(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    # the comparison thread ----------------------------------------------------------------

    def _compare_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            job, candidate, candidate_ms, twin = item
            self._release(_queued_size(job, candidate, twin))
            try:
                self._compare_one(job, candidate, candidate_ms, twin)
            except Exception:
                # one bad comparison must not end the thread: later ones still count
                log.exception("comparing %s %s failed", job.method, job.target.path)
                self._metrics.shadow_dropped.labels(job.capability, "compare_failed").inc()
            if time.monotonic() - self._noise_flushed > NOISE_FLUSH_INTERVAL:
                self._flush_noise()
        self._flush_noise()

    def _compare_one(
        self, job: ShadowJob, candidate: HttpAnswer, candidate_ms: float, twin: HttpAnswer | None
    ) -> None:
        # the totals judge (what every process learned); the pending increments go to the store
        trackers = self._trackers(job.capability) if job.learn_noise else ()
        observed = classify(
            job.legacy, candidate, rules=job.rules, route=job.route, trackers=trackers, twin=twin
        )
        outcome = observed.outcome
        if observed.twin is not None:
            key = (job.capability, job.route)
            self._twins[key] = self._twins.get(key, 0) + 1
        self._metrics.shadow_comparisons.labels(job.capability, outcome).inc()
        assert self._recorder is not None
        if outcome == "match":
            # a match is evidence by its count and latencies: tallied per minute, not a row
            self._recorder.submit_match(job.capability, job.route, job.legacy_ms, candidate_ms)
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
            candidate_ms=candidate_ms,
            candidate_body_size=answer_size(candidate),
        )
        if not self._recorder.submit(record):
            self._metrics.shadow_dropped.labels(job.capability, "store").inc()

    def _trackers(self, capability: str) -> tuple[NoiseTracker, NoiseTracker]:
        totals = self._noise.get(capability)
        if totals is None:
            totals = self._noise[capability] = self._stored_noise(capability)
            self._noise_pending[capability] = NoiseTracker()
        return totals, self._noise_pending[capability]

    def _stored_noise(self, capability: str) -> NoiseTracker:
        """What every facade process learned so far; empty if the store cannot be read now."""
        assert self._store is not None
        try:
            store = open_store(self._store)
            try:
                counts = store.noise_counts(capability)
            finally:
                store.close()
            return tracker_from_counts(counts, experiment=capability)
        except Exception as exc:  # a store that is down must not stop the comparisons
            log.warning("noise counts for %s not loaded (%s); learning afresh", capability, exc)
            return NoiseTracker()

    def _flush_noise(self) -> None:
        self._noise_flushed = time.monotonic()
        if self._recorder is None:
            return
        for capability, pending in self._noise_pending.items():
            rows = tracker_to_counts(pending, experiment=capability)
            if rows and not self._recorder.submit_noise(rows):
                self._metrics.shadow_dropped.labels(capability, "noise_counts").inc()
            self._noise_pending[capability] = NoiseTracker()

    # lifecycle ----------------------------------------------------------------------------

    def export_stats(self) -> None:
        """Copy the recorder's counters into the metrics (called when /metrics is scraped)."""
        if self._recorder is None:
            return
        stats = self._recorder.stats()
        self._metrics.store_written.set(stats.written)
        self._metrics.store_up.set(1 if stats.store_ok else 0)
        for capability, count in stats.dropped.items():
            self._metrics.store_dropped.labels(capability).set(count)
        for capability, count in stats.examples_dropped.items():
            self._metrics.store_examples_dropped.labels(capability).set(count)
        self._metrics.store_counted_only.set(stats.counted_only)

    async def close(self) -> None:
        """Let in-flight candidate calls finish (briefly), then flush comparisons and records."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLOSE_WAIT)
        self._close_pools()
        if self._thread is not None:
            await asyncio.to_thread(self._queue.put, None)
            await asyncio.to_thread(self._thread.join, CLOSE_WAIT)
        if self._recorder is not None:
            await asyncio.to_thread(self._recorder.close, CLOSE_WAIT)
