"""Replay recorded traffic through the comparator: ``strangler replay FILE``.

Each recorded request is routed as the facade would route it (routes.yaml's matcher, on the
normalized target), then sent to the monolith and to the capability's service (through its
translator when it names one), and the two answers are compared by the shadow stage's
comparator with the capability's ``compare:`` rules and the noise learned so far: the
store's noise counts (what shadow mode and earlier replays learned), to which the replay adds
its own twins and comparisons, so a replay and shadow mode judge alike. Results go to the
result store under one run id (``strangler report --run ID``).

What is skipped, and counted by reason: entries the reader could not use (a HAR entry with a
binary body), requests of no capability or of another one than ``--capability``, capabilities
without a service, unsafe methods (unless ``include_unsafe``), requests the facade would reject,
and (``against_recorded``) entries without a recorded answer. A monolith that fails to answer
is counted too: there is nothing to compare the service with.

The recording is read as the replay goes, so a damaged file stops the reading, not the
requests already read: those finish, and the tally says where reading stopped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from acl.http import Translator
from facade.config import Capability, Config
from facade.config.evidence import compare_rules
from facade.config.normalize import Target, normalize_target
from facade.errors import PathRejected, UpstreamError
from facade.shadow import MAX_SHADOW_BODY
from facade.state import legacy_settings, service_settings
from facade.tasks import spawn
from facade.translate import call_translated, legacy_request, translator_for
from facade.upstream import UpstreamClient, UpstreamSettings, describe_client_error
from parallel_run.compare import CompareRules, HttpAnswer
from parallel_run.errors import TrafficFileError
from parallel_run.methods import SAFE_METHODS
from parallel_run.noise import NoiseTracker, should_sample_twin
from parallel_run.noise_counts import SharedNoise
from parallel_run.observe import Where, observe
from parallel_run.record import ObservationRecord
from parallel_run.store import ResultStore
from parallel_run.traffic import RecordedExchange, Skipped

log = logging.getLogger("strangler.replay")
REPLAY_HEADER = "X-Strangler-Replay"  # the run id: lets either side tell replayed traffic apart
WRITE_BATCH = 200
# framing and hop-by-hop headers are the client library's to set; Accept-Encoding is dropped
# so both sides answer uncompressed bodies, which is what the comparator reads
_NOT_SENT = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "accept-encoding",
        "x-strangler-shadow",
    }
)


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    run_id: str
    capability: str | None = None
    concurrency: int = 8
    rate: float | None = None  # requests per second, at most; None: as fast as answered
    against_recorded: bool = False
    include_unsafe: bool = False


@dataclass(slots=True)
class CapabilityTally:
    compared: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)
    example: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ReplayTally:
    """What a replay did; ``stopped`` is the damage that ended the reading, if any."""

    run_id: str
    read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    capabilities: dict[str, CapabilityTally] = field(default_factory=dict)
    stored: int = 0
    monolith_failures: int = 0
    stopped: TrafficFileError | None = None
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None

    @property
    def compared(self) -> int:
        return sum(cap.compared for cap in self.capabilities.values())

    @property
    def failed(self) -> int:
        """Mismatches and candidate errors, in every capability."""
        return sum(
            cap.outcomes["mismatch"] + cap.outcomes["candidate_error"]
            for cap in self.capabilities.values()
        )

    @property
    def elapsed(self) -> float:
        return (self.finished or time.perf_counter()) - self.started


@dataclass(frozen=True, slots=True)
class _Job:
    exchange: RecordedExchange
    target: Target
    capability: str
    route: str


class Replayer:
    """One replay run over one configuration; ``await run(items)`` once."""

    def __init__(
        self,
        config: Config,
        options: ReplayOptions,
        *,
        store: ResultStore,
        on_progress: Callable[[ReplayTally], None] | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.tally = ReplayTally(options.run_id)
        self._store = store
        self._on_progress = on_progress
        self._clients: dict[str, UpstreamClient] = {}
        self._rules: dict[str, CompareRules] = {}
        self._noise: dict[str, SharedNoise] = {}
        self._pending: list[ObservationRecord] = []
        self._write_lock = asyncio.Lock()
        self._rng = random.Random()

    # planning: which recorded requests are replayed --------------------------------------

    def plan(self, exchange: RecordedExchange) -> _Job | str:
        """The job for ``exchange``, or the reason it is skipped."""
        config = self.config
        try:
            target = normalize_target(
                exchange.target, dot_segments=config.routes.limits.dot_segments
            )
        except PathRejected:
            return "request-target the facade would reject"
        match = config.matcher.match(exchange.method, target.path)
        if match is None:
            return "matches no capability"
        name = match.route.capability
        if self.options.capability is not None and name != self.options.capability:
            return "outside the chosen capability"
        capability = config.routes.capabilities[name]
        if capability.service is None:
            return "capability names no service"
        if exchange.method.upper() not in SAFE_METHODS and not self.options.include_unsafe:
            return "unsafe method (see --include-unsafe)"
        if self.options.against_recorded and exchange.response is None:
            return "no recorded response"
        return _Job(exchange, target, name, match.route.template)

    # running -----------------------------------------------------------------------------

    async def run(self, items: Iterator[RecordedExchange | Skipped]) -> ReplayTally:
        """Replay every entry of ``items``; reading stops at the first damage (``stopped``)."""
        jobs: asyncio.Queue[_Job | None] = asyncio.Queue(self.options.concurrency * 2)
        workers = [
            spawn(self._worker(jobs), name=f"replay-{n}") for n in range(self.options.concurrency)
        ]
        try:
            await self._feed(items, jobs)
        finally:
            for _ in workers:
                await jobs.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            await self._flush()
            for client in self._clients.values():
                await client.close()
            self.tally.finished = time.perf_counter()
        for worker in workers:
            if not worker.cancelled() and (exc := worker.exception()) is not None:
                raise exc
        return self.tally

    async def _feed(
        self, items: Iterator[RecordedExchange | Skipped], jobs: asyncio.Queue[_Job | None]
    ) -> None:
        loop = asyncio.get_running_loop()
        interval = 1 / self.options.rate if self.options.rate else 0.0
        next_at = loop.time()
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except TrafficFileError as exc:
                self.tally.stopped = exc
                return
            self.tally.read += 1
            if isinstance(item, Skipped):
                self._skip(item.reason)
                continue
            job = self.plan(item)
            if isinstance(job, str):
                self._skip(job)
                continue
            if interval:
                now = loop.time()
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                next_at = max(next_at, now) + interval
            await jobs.put(job)

    def _skip(self, reason: str) -> None:
        self.tally.skipped[reason] += 1
        if self._on_progress is not None:
            self._on_progress(self.tally)

    async def _worker(self, jobs: asyncio.Queue[_Job | None]) -> None:
        while (job := await jobs.get()) is not None:
            try:
                await self._replay_one(job)
            except Exception as exc:
                # one request that breaks the replay must not stop the others (nor leave the
                # reader waiting on a queue nobody drains): it is counted, with its kind
                log.exception("replaying %s %s failed", job.exchange.method, job.target.path)
                self._skip(f"replay failed: {type(exc).__name__}")
                continue
            if self._on_progress is not None:
                self._on_progress(self.tally)

    async def _replay_one(self, job: _Job) -> None:
        config = self.config
        capability = config.routes.capabilities[job.capability]
        assert capability.service is not None
        exchange = job.exchange
        headers = CIMultiDict(
            (name, value) for name, value in exchange.headers if name.lower() not in _NOT_SENT
        )
        headers[REPLAY_HEADER] = self.options.run_id
        legacy = self._client("legacy")
        twin: HttpAnswer | None = None
        if self.options.against_recorded:
            assert exchange.response is not None
            recorded = exchange.response
            control = HttpAnswer(recorded.status, recorded.headers, recorded.body)
            control_ms: float | None = None
        else:
            control, control_ms = await self._fetch(
                legacy, job, headers, wait=config.routes.legacy.timeout
            )
            if control.error is not None:
                # the kind only ("cannot connect", "timeout"): one count per cause, not per port
                kind = control.error.split(" (")[0].split(":")[0]
                self.tally.monolith_failures += 1
                self._skip(f"monolith failed: {kind}")
                return
        service = config.routes.services[capability.service]
        started = time.perf_counter()
        candidate = await self._candidate(job, capability, headers, wait=service.timeout)
        candidate_ms = (time.perf_counter() - started) * 1000
        learn = capability.compare.noise == "auto"
        if (
            learn
            and not self.options.against_recorded
            and should_sample_twin(
                self._rng, fraction=capability.compare.noise_sample / 100, method=exchange.method
            )
        ):
            # the monolith asked again: what differs between its two answers is its own noise
            twin, _ = await self._fetch(legacy, job, headers, wait=config.routes.legacy.timeout)
        self._compare(job, capability, control, control_ms, candidate, candidate_ms, twin, learn)
        if len(self._pending) >= WRITE_BATCH:
            await self._flush()

    def _compare(
        self,
        job: _Job,
        capability: Capability,
        control: HttpAnswer,
        control_ms: float | None,
        candidate: HttpAnswer,
        candidate_ms: float,
        twin: HttpAnswer | None,
        learn: bool,
    ) -> None:
        rules = self._rules.get(job.capability)
        if rules is None:
            rules = self._rules[job.capability] = compare_rules(capability.compare)
        where = Where(
            experiment=job.capability,
            route=job.route,
            method=job.exchange.method,
            path=job.target.path_qs,
            run_id=self.options.run_id,
        )
        observed, record = observe(
            control,
            candidate,
            where,
            control_ms=control_ms,
            candidate_ms=candidate_ms,
            rules=rules,
            trackers=self._trackers(job.capability) if learn else (),
            # a twin that failed says nothing about the monolith's noise
            twin=twin if twin is not None and twin.error is None else None,
        )
        outcome, differences = observed.outcome, observed.differences
        tally = self.tally.capabilities.setdefault(job.capability, CapabilityTally())
        tally.compared += 1
        tally.outcomes[outcome] += 1
        for path in {d.template_path for d in differences}:
            tally.paths[path] += 1
            tally.example.setdefault(path, record.id)
        self._pending.append(record)

    def _trackers(self, capability: str) -> tuple[NoiseTracker, NoiseTracker]:
        noise = self._noise.get(capability)
        if noise is None:
            # what shadow mode and earlier replays learned judges; this run's twins and
            # comparisons are added to the store with the records (``_flush``)
            stored = self._store.noise_counts(capability)
            noise = self._noise[capability] = SharedNoise(capability, stored)
        return noise.trackers

    async def _flush(self) -> None:
        async with self._write_lock:
            batch, self._pending = self._pending, []
            learned = [row for noise in self._noise.values() for row in noise.take()]
            if batch:
                self.tally.stored += await asyncio.to_thread(self._store.write, batch)
            if learned:
                await asyncio.to_thread(self._store.add_noise_counts, learned)

    # the two sides ------------------------------------------------------------------------

    def _client(self, name: str) -> UpstreamClient:
        client = self._clients.get(name)
        if client is None:
            if name == "legacy":
                base = legacy_settings(self.config)
                pool = self.options.concurrency * 2  # twin calls share the pool
            else:
                base = service_settings(self.config, name)
                pool = min(self.options.concurrency, base.max_connections)
            settings = UpstreamSettings(
                name=base.name,
                url=base.url,
                timeout=base.timeout,
                connect_timeout=base.connect_timeout,
                max_connections=pool,
            )
            client = self._clients[name] = UpstreamClient(settings)
        return client

    async def _fetch(
        self, client: UpstreamClient, job: _Job, headers: CIMultiDict[str], *, wait: float
    ) -> tuple[HttpAnswer, float]:
        started = time.perf_counter()
        body = job.exchange.body or None
        try:
            async with asyncio.timeout(wait):
                async with client.send(
                    job.exchange.method, job.target, headers=headers, body=body
                ) as response:
                    data = await response.content.read(MAX_SHADOW_BODY + 1)
                    answer = HttpAnswer(
                        response.status, tuple(response.headers.items()), data[:MAX_SHADOW_BODY]
                    )
        except TimeoutError:
            answer = HttpAnswer.failed("timeout")
        except (aiohttp.ClientError, OSError) as exc:
            answer = HttpAnswer.failed(describe_client_error(exc))
        return answer, (time.perf_counter() - started) * 1000

    async def _candidate(
        self, job: _Job, capability: Capability, headers: CIMultiDict[str], *, wait: float
    ) -> HttpAnswer:
        assert capability.service is not None
        client = self._client(capability.service)
        if capability.translator is None:
            answer, _ = await self._fetch(client, job, headers, wait=wait)
            return answer
        try:
            translator: Translator = translator_for(
                capability.translator, upstream=capability.service
            )
            legacy = legacy_request(
                job.exchange.method,
                job.target,
                CIMultiDictProxy(CIMultiDict(job.exchange.headers)),
                job.exchange.body,
            )
            async with asyncio.timeout(wait):
                got = await call_translated(client, translator, legacy, outgoing=headers)
        except TimeoutError:
            return HttpAnswer.failed("timeout")
        except UpstreamError as exc:
            return HttpAnswer.failed(exc.detail)
        # HEAD was asked as the GET it stands for: the monolith's HEAD answer has no body
        body = b"" if job.exchange.method == "HEAD" else got.body
        return HttpAnswer(got.status, got.headers, body)
