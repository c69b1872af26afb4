"""The compare service's requests: answer the mirror at once, compare in the background.

Per mirrored request: the reserved paths (``/healthz``, ``/readyz``, ``/metrics``) are answered
as the facade answers them; any other request is answered 202 with no body as soon as its body
is read, whatever happens next. When ``mirror.decide`` says to compare it, a background task
asks the monolith (the control: the mirror's own copy of the monolith's answer is discarded by
Envoy or nginx, so this is one extra monolith call per compared request) and hands a
``ShadowJob`` to the facade's ``ShadowRunner``, which asks the candidate (and the twin, for
the monolith's noise), compares and records, bounded and counted as in the facade.

The work waiting for the monolith is bounded too, in count and in bytes (``max_pending``,
``max_pending_bytes``): past either, the request is dropped and counted
(``strangler_shadow_dropped{reason="mirror_queue_full"}``, and the store's drops), so a slow
monolith or candidate holds memory up to the bound and never the mirror sender's answer.

Only hosts named in routes.yaml are ever called: the monolith (``legacy.url``) and the
capability's service, through the facade's clients. Hop-by-hop and ``X-Strangler-*`` headers
are stripped as the facade strips them (``facade.headers``); bodies past the shadow limit or
the capability's ``max_body`` are not compared; the recorder redacts before storing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter as Tally
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import Counter

from compare_service.mirror import Compare, Ignored, decide, original_host
from facade.admin import answer_reserved, probe_legacy, reserved_path
from facade.app import background
from facade.config import Config
from facade.config.normalize import Target, normalize_target
from facade.connections import FacadeServer
from facade.errors import RequestRejected, UpstreamError
from facade.exchange import Exchange
from facade.headers import Peer, request_id_from, traceparent_from, upstream_request_headers
from facade.lean_http import LeanHttpError
from facade.problem import problem_response
from facade.reload import run_hooks, watch_routes
from facade.shadow import MAX_SHADOW_BODY, READ_LIMIT, ShadowJob
from facade.state import LEGACY, FacadeState, LiveConfig, ReloadHook
from facade.tasks import spawn
from facade.translate import translator_for
from facade.upstream import MAX_FIELD_SIZE
from parallel_run.compare import HttpAnswer

log = logging.getLogger("strangler.compare")
MAX_PENDING = 1024  # mirrored requests waiting for the monolith's answer
MAX_PENDING_BYTES = 64 * 1024**2  # of their request bodies
DROPS_FLUSH = 1.0  # seconds between hand-overs of counted drops to the store
QUEUE_FULL = "mirror_queue_full"


class CompareService:
    """One compare-service process: ``await start()``, serve ``handle``, ``await close()``."""

    def __init__(
        self,
        config: Config,
        *,
        max_pending: int = MAX_PENDING,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        watch: bool = True,
        host_suffix: str = "",
        reload_hooks: Sequence[ReloadHook] = (),
    ) -> None:
        # reload_hooks: called at start and after each applied reload (facade.state.ReloadHook):
        # how `strangler compare-service` records its config in force without this importing it
        self.state = FacadeState(LiveConfig(config, hooks=tuple(reload_hooks)))
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.pending = 0
        self.pending_bytes = 0
        self._watch = watch
        self.host_suffix = host_suffix
        self._tasks: set[asyncio.Task[Any]] = set()
        self._store_drops: Tally[str] = Tally()  # not yet handed to the store
        self._slots: dict[int, asyncio.Semaphore] = {}  # monolith calls, by max_connections
        self._resources: contextlib.AsyncExitStack | None = None
        registry = self.state.metrics.registry
        self.mirrored = Counter(
            "strangler_compare_mirrored",
            "Mirrored requests received, by outcome (compared: handed to the comparison; "
            "ignored: answered only, by reason).",
            ["outcome", "reason"],
            registry=registry,
        )

    async def start(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            state = self.state
            stack.push_async_callback(state.upstreams.close)
            # the recorder now, before the compare thread runs (it follows the store from then
            # on): drops counted before any comparison was made reach the store too
            # off the loop: opening (and migrating) the database blocks; the worker thread
            # is not started yet, so nothing else touches the follower meanwhile
            await asyncio.to_thread(state.shadow.worker.store.follow)
            state.shadow.start()
            stack.push_async_callback(state.shadow.close)
            stack.push_async_callback(self._finish_pending)
            background(stack, probe_legacy(state), name="legacy-probe")
            background(stack, self._flush_drops_every(DROPS_FLUSH), name="compare-drops")
            if self._watch:
                background(stack, watch_routes(state), name="routes-watch")
            run_hooks(state.live, None, state.live.current)
            self._resources = stack.pop_all()

    async def close(self) -> None:
        resources, self._resources = self._resources, None
        if resources is not None:
            await resources.aclose()

    def server(self, **kwargs: Any) -> web.Server:
        """The facade's own server class: its connection cap, header and idle timeouts
        (``limits``), header size limit and problem+json errors hold here too."""
        return FacadeServer(
            self.handle,
            state=self.state,
            access_log=None,
            max_field_size=MAX_FIELD_SIZE,
            **kwargs,
        )

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        state = self.state
        config = state.live.current
        request_id = request_id_from(request.headers)
        try:
            target = normalize_target(
                request.raw_path, dot_segments=config.routes.limits.dot_segments
            )
        except RequestRejected as exc:
            response = problem_response(exc.status, exc.title, exc.detail, request_id=request_id)
            response.force_close()
            return response
        reserved = reserved_path(target.path)
        if reserved is not None:
            ex = Exchange(request, state, config, request_id, "")
            ex.answered_locally = True
            ex.target = target
            return await answer_reserved(reserved, ex)
        host = original_host(request.headers, self.host_suffix)
        decision = (
            host if isinstance(host, Ignored) else decide(config, request.method, target, host)
        )
        if isinstance(decision, Ignored):
            return self._ignored(decision.reason, request)
        limit = min(
            MAX_SHADOW_BODY, config.max_body(config.routes.capabilities[decision.capability])
        )
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            return self._refused(decision.capability, "body_too_large", request)
        size = len(body or b"")
        if self.pending >= self.max_pending or self.pending_bytes + size > self.max_pending_bytes:
            return self._refused(decision.capability, QUEUE_FULL, request)
        headers = upstream_headers(
            request,
            decision,
            body,
            request_id=request_id,
            trusted_hops=config.routes.forwarded.trusted_hops,
        )
        self.pending += 1
        self.pending_bytes += size
        self.mirrored.labels("compared", "").inc()
        task = spawn(
            self._compare(config, decision, request.method, target, headers, body, size),
            name=f"compare-{decision.capability}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return accepted()

    def _ignored(
        self, reason: str, request: web.BaseRequest, outcome: str = "ignored"
    ) -> web.StreamResponse:
        self.mirrored.labels(outcome, reason).inc()
        response = accepted()
        if request.body_exists and not request.content.is_eof():
            response.force_close()  # its body is not read: the stream is not reusable
        return response

    async def _compare(
        self,
        config: Config,
        decision: Compare,
        method: str,
        target: Target,
        headers: CIMultiDict[str],
        body: bytes | None,
        size: int,
    ) -> None:
        """Ask the monolith, then hand the job to the shadow runner (which asks the candidate)."""
        try:
            job = await self._control(config, decision, method, target, headers, body)
        finally:
            self.pending -= 1
            self.pending_bytes -= size
        if job is not None:
            self.state.shadow.offer(job)

    async def _control(
        self,
        config: Config,
        decision: Compare,
        method: str,
        target: Target,
        headers: CIMultiDict[str],
        body: bytes | None,
    ) -> ShadowJob | None:
        state = self.state
        capability = config.routes.capabilities[decision.capability]
        legacy = state.client(config, LEGACY)
        # at most legacy.max_connections calls at once, as the facade's own pool: the others
        # wait their turn in the queue (bounded by max_pending), never open more connections
        async with self._monolith_slot(config.routes.legacy.max_connections):
            started = time.perf_counter()
            try:
                async with asyncio.timeout(config.routes.legacy.timeout):
                    got = await state.shadow.caller.pool(config, legacy).request(
                        method, target.path_qs, headers.items(), body, max_body=READ_LIMIT
                    )
            except (TimeoutError, LeanHttpError) as exc:
                # the proxy's own call may have failed too: nothing to compare against
                log.info("monolith failed for a mirrored %s %s: %r", method, target.path, exc)
                kind = "timeout" if isinstance(exc, TimeoutError) else "unavailable"
                state.metrics.upstream_errors.labels(LEGACY, kind).inc()
                self._drop(decision.capability, "legacy_error")
                return None
        legacy_ms = (time.perf_counter() - started) * 1000
        if len(got.body) > MAX_SHADOW_BODY:
            self._drop(decision.capability, "body_too_large")
            return None
        translator = None
        if capability.translator is not None:
            try:
                translator = translator_for(capability.translator, upstream=decision.service)
            except UpstreamError:
                self._drop(decision.capability, "translator")
                return None
        service = config.routes.services[decision.service]
        return ShadowJob(
            capability=decision.capability,
            route=decision.route,
            method=method,
            target=target,
            headers=headers,
            body=body,
            legacy=HttpAnswer(got.status, got.headers, b"" if method == "HEAD" else got.body),
            legacy_ms=legacy_ms,
            candidate=state.client(config, decision.service),
            timeout=capability.shadow.timeout or service.timeout,
            legacy_client=legacy,
            twin_fraction=(
                capability.compare.noise_sample / 100 if capability.compare.noise == "auto" else 0.0
            ),
            learn_noise=capability.compare.noise == "auto",
            config=config,
            translator=translator,
        )

    def _monolith_slot(self, limit: int) -> asyncio.Semaphore:
        """The semaphore for ``limit`` calls at once (a reload that changes it gets a new one;
        calls under way keep theirs)."""
        slot = self._slots.get(limit)
        if slot is None:
            slot = self._slots[limit] = asyncio.Semaphore(limit)
        return slot

    def _refused(
        self, capability: str, reason: str, request: web.BaseRequest
    ) -> web.StreamResponse:
        """A request to compare that does not fit: answered, dropped and counted."""
        self._drop(capability, reason)
        return self._ignored(reason, request, outcome="dropped")

    def _drop(self, capability: str, reason: str) -> None:
        self.state.metrics.shadow_dropped.labels(capability, reason).inc()
        self._store_drops[capability] += 1

    def flush_drops(self) -> None:
        """Hand the drops counted here to the recorder in force, which writes them into the
        store's drops (a report counts them). The worker thread may swap that recorder at any
        time: the follower hands them over under the lock it swaps with."""
        if not self._store_drops:
            return
        counts, self._store_drops = dict(self._store_drops), Tally()
        if not self.state.shadow.worker.store.count_drops(counts):
            self._store_drops.update(counts)  # no recorder yet: kept for the next flush

    async def _flush_drops_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.flush_drops()

    async def _finish_pending(self) -> None:
        """At close: let the monolith calls under way end (briefly), hand the last drops over."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
        self.flush_drops()


def accepted() -> web.Response:
    """The mirror's answer: nobody reads it (Envoy and nginx discard it)."""
    return web.Response(status=202)


def upstream_headers(
    request: web.BaseRequest,
    decision: Compare,
    body: bytes | None,
    *,
    request_id: str,
    trusted_hops: int,
) -> CIMultiDict[str]:
    """What the monolith and the candidate are sent: the facade's upstream headers, built
    from the client's Host (the mirror's ``-shadow`` suffix removed)."""
    incoming = CIMultiDict(request.headers)
    if decision.host is not None:
        incoming["Host"] = decision.host
    headers = upstream_request_headers(
        CIMultiDictProxy(incoming),
        peer=Peer(request.remote or "", request.scheme, decision.host),
        # the mirror sender is one more proxy in front of the upstreams: the X-Forwarded-*
        # it added for the client are taken as the facade takes its trusted hops'
        trusted_hops=trusted_hops + 1,
        request_id=request_id,
        traceparent=traceparent_from(request.headers),
    )
    if body is not None:
        headers["Content-Length"] = str(len(body))
    return headers


class BodyTooLarge(Exception):
    """A mirrored request's body is over the limit: not compared."""


async def read_body(request: web.BaseRequest, limit: int) -> bytes | None:
    """The request's body, None when it has none; BodyTooLarge past ``limit`` bytes."""
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge
    if length is None and not request.body_exists:
        return None
    chunks: list[bytes] = []
    total = 0
    while chunk := await request.content.readany():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
