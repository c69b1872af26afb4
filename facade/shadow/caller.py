"""The event loop's side of shadow mode: admit a job, call the candidate (and the twin), hand
the answers to the compare worker.

1. ``offer`` (after the monolith's answer was relayed): at most as many candidate calls at once
   as the service's connection pool holds (``max_concurrency``, at most ``MAX_IN_FLIGHT``);
   beyond that the job is dropped, so a call never waits for a connection inside its own
   timeout (a slow service would otherwise be recorded as failing when it was the facade's
   queue that was full).
2. The candidate call (a background task with its own timeout): its failure is an observation
   ("candidate_error"), never an outage. Calls go through lean keep-alive pools
   (``facade.lean_http`` says why), one set per configuration (``facade.config.derived``): a
   reload's new settings get new pools, and the old ones are closed once no job holds their
   configuration, so closing them never cuts a call.
3. The answers go to the ``Handoff``; a full one (in count or bytes) drops the job, counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from acl.http import HttpResponseData, Translator
from facade.config import Config
from facade.config.derived import PerConfig
from facade.errors import UpstreamError
from facade.lean_http import LeanHttpError, LeanPool
from facade.metrics import Metrics
from facade.shadow.handoff import Handoff
from facade.shadow.job import (
    CLOSE_WAIT,
    MAX_IN_FLIGHT,
    MAX_SHADOW_BODY,
    READ_LIMIT,
    SHADOW_HEADER,
    TWIN_TARGET,
    Compared,
    ShadowJob,
)
from facade.tasks import spawn
from facade.translate import (
    legacy_request,
    service_headers,
    service_target,
    translate_answer,
    translate_request,
)
from facade.upstream import Upstream
from parallel_run.compare import HttpAnswer
from parallel_run.noise import should_sample_twin

Pools = dict[str, LeanPool]  # one configuration's, by upstream name


class ShadowCaller:
    """Admission, candidate and twin calls, hand-off: the event loop's half of the runner."""

    def __init__(
        self, metrics: Metrics, handoff: Handoff, *, twins: Mapping[tuple[str, str], int]
    ) -> None:
        self._metrics = metrics
        self._handoff = handoff
        # twin calls compared so far, by (capability, route): the worker counts, this reads
        self._twins = twins
        self._in_flight: dict[str, int] = {}  # by candidate service
        self._rng = random.Random()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: PerConfig[Pools] = PerConfig(lambda _config: {}, on_drop=self._dropped)

    def in_flight(self, service: str) -> int:
        return self._in_flight.get(service, 0)

    def offer(self, job: ShadowJob) -> bool:
        """Start the candidate call in the background, or count the job as dropped."""
        service = job.candidate.name
        busy = self._in_flight.get(service, 0)
        if busy >= min(MAX_IN_FLIGHT, job.candidate.settings.max_connections):
            self._metrics.shadow_dropped.labels(job.capability, "busy").inc()
            return False
        self._loop = asyncio.get_running_loop()
        self._in_flight[service] = busy + 1
        task = spawn(self.call(job), name=f"shadow-{job.capability}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def call(self, job: ShadowJob) -> None:
        """Ask the candidate (and maybe the monolith again), then hand both answers over.
        The caller counted the job in flight; this uncounts it."""
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
                self._rng, fraction=self.twin_fraction(job), method=job.method
            ):
                # the monolith asked the same question again: what differs is its own noise
                twin = await self._fetch(job, job.legacy_client)
        finally:
            self._in_flight[job.candidate.name] -= 1
        if not self._handoff.put(Compared(job, answer, elapsed, twin)):
            self._metrics.shadow_dropped.labels(job.capability, "compare_queue_full").inc()

    def twin_fraction(self, job: ShadowJob) -> float:
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
                got = await self.pool(job.config, job.candidate).request(
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

    async def _fetch(self, job: ShadowJob, client: Upstream) -> HttpAnswer:
        headers = [*job.headers.items(), (SHADOW_HEADER, "1")]
        try:
            async with asyncio.timeout(job.timeout):
                answer = await self.pool(job.config, client).request(
                    job.method, job.target.path_qs, headers, job.body, max_body=READ_LIMIT
                )
        except TimeoutError:
            return HttpAnswer.failed("timeout")
        except LeanHttpError as exc:
            return HttpAnswer.failed(str(exc))
        return HttpAnswer(answer.status, answer.headers, answer.body)

    def pool(self, config: Config, client: Upstream) -> LeanPool:
        """The lean keep-alive pool for ``client`` as ``config`` describes it."""
        pools = self._pools.get(config)
        pool = pools.get(client.name)
        if pool is None:
            pool = pools[client.name] = LeanPool(
                client.base,
                connect_timeout=client.settings.connect_timeout,
                max_idle=client.settings.max_connections,
            )
        return pool

    def pool_sets(self) -> int:
        """How many configurations have pools now (the current one and those in use)."""
        return len(self._pools)

    def _dropped(self, pools: Pools) -> None:
        # no job holds their configuration any more: only idle connections are left to close,
        # on the loop (this runs in whichever thread let the configuration go)
        if not pools:
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # the loop is gone, and its sockets with it
        with contextlib.suppress(RuntimeError):  # closed meanwhile
            loop.call_soon_threadsafe(_close, list(pools.values()))

    async def close(self) -> None:
        """Let in-flight candidate calls finish (briefly), then close every pool."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLOSE_WAIT)
        for pools in self._pools.values():
            _close(list(pools.values()))


def _close(pools: list[LeanPool]) -> None:
    for pool in pools:
        pool.close()
