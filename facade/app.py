"""The facade: its state, its request pipeline and its background work, served by aiohttp.

The facade routes every request itself, on the raw request-target, so it runs on aiohttp's
low-level ``web.Server`` rather than an ``Application``: the URL router could not place a
``*``, absolute-form or authority-form target (it would answer its own 404 text), and the
router plus middleware chain cost about a third of the facade's per-request time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from facade import access_log as json_access
from facade.admin import RESERVED_PATHS, answer_reserved, probe_legacy, reserved_path
from facade.config import Config
from facade.config.normalize import normalize_target
from facade.connections import FacadeServer
from facade.errors import RequestRejected, UpstreamError, UpstreamRefused
from facade.exchange import Exchange, problem_for, route_header
from facade.headers import request_id_from, traceparent_from
from facade.reload import run_hooks, watch_routes
from facade.stages import Stage, default_stages
from facade.state import FacadeState, LiveConfig, ReloadHook
from facade.tasks import spawn
from facade.upstream import MAX_FIELD_SIZE  # one limit for requests and answers (U4)

if TYPE_CHECKING:
    from facade.recording import Sampler

log = logging.getLogger("strangler.facade")
# probes and scrapers: a handful at a time; beyond, one answer each (probes still served)
ADMIN_MAX_CONNECTIONS = 16
access_log = logging.getLogger("strangler.access")
# `serve --access-log json`: one JSON object a line, alone on stdout (facade.server sets it up)
json_log = logging.getLogger("strangler.access.json")


class Facade:
    """One facade process: ``await start()``, serve ``handle``, then ``await close()``."""

    def __init__(
        self,
        config: Config,
        *,
        stages: Sequence[Stage] | None = None,
        watch: bool = True,
        access_log: str | None = None,
        sampler: Sampler | None = None,
        reload_hooks: Sequence[ReloadHook] = (),
    ) -> None:
        # reload_hooks: called after each applied reload and at start (facade.state.ReloadHook)
        self.state = FacadeState(LiveConfig(config, hooks=tuple(reload_hooks)))
        self._stages = list(stages or default_stages())
        self._watch = watch
        # access_log: None, "text" (a line in the facade's log) or "json" (facade/access_log.py)
        self._log_access = access_log == "text"
        self._log_json = access_log == "json"
        self._sampler = sampler  # `serve --record`: copies of finished exchanges, off the path
        # what start() opened, each with its close: closed in reverse order by close(), or at
        # once by a start() that fails half-way
        self._resources: contextlib.AsyncExitStack | None = None

    async def start(self) -> None:
        """Open the facade's resources, each registering its close as it opens."""
        async with contextlib.AsyncExitStack() as stack:
            state = self.state
            if self._sampler is not None:
                # handed over already open (server.py): closed last, after the final answers
                stack.push_async_callback(asyncio.to_thread, self._sampler.close)
            stack.push_async_callback(state.upstreams.close)
            state.shadow.start()
            # before the pools: in-flight shadow calls finish, then comparisons are flushed
            stack.push_async_callback(state.shadow.close)
            # the last counts per endpoint are handed over once the ticks have stopped
            stack.push_async_callback(state.traffic.close)
            background(stack, state.traffic.run(), name="endpoint-traffic")
            background(stack, probe_legacy(state), name="legacy-probe")
            if self._watch:
                background(stack, watch_routes(state), name="routes-watch")
                # e.g. edits made while no facade ran: no reload saw them
                run_hooks(state.live, None, state.live.current)
            self._resources = stack.pop_all()

    async def close(self) -> None:
        """Close what ``start()`` opened, in reverse order (a second call does nothing)."""
        resources, self._resources = self._resources, None
        if resources is not None:
            await resources.aclose()

    def server(self, **kwargs: Any) -> web.Server:
        """An aiohttp low-level server whose every request goes to ``handle``; its connections
        follow ``limits`` (header and idle timeouts, the cap: facade/connections.py)."""
        return FacadeServer(
            self.handle,
            state=self.state,
            access_log=None,
            max_field_size=MAX_FIELD_SIZE,
            **kwargs,
        )

    def admin_server(self, **kwargs: Any) -> web.Server:
        """The ``admin.listen`` server: the reserved paths only, everything else 404. Its
        connections get the same header and idle timeouts and problem+json errors as the
        proxy's (facade/connections.py), and a cap of their own: a flood on the admin port
        neither holds connections for aiohttp's 3,630 s nor takes the proxy's descriptors."""
        return FacadeServer(
            self.handle_admin,
            state=self.state,
            max_connections=ADMIN_MAX_CONNECTIONS,
            access_log=None,
            max_field_size=MAX_FIELD_SIZE,
            **kwargs,
        )

    async def handle_admin(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer a request on the admin listener: nothing is ever proxied from there."""
        state = self.state
        ex = Exchange(request, state, state.live.current, request_id_from(request.headers), "")
        ex.answered_locally = True
        try:
            ex.target = normalize_target(request.raw_path)
        except RequestRejected as exc:
            response = problem_for(ex, exc.status, exc.title, exc.detail)
            response.force_close()
            return response
        path = reserved_path(ex.target.path)
        if path is not None:
            return await answer_reserved(path, ex)
        paths = ", ".join(sorted(RESERVED_PATHS))
        return problem_for(ex, 404, "Not Found", f"the admin listener serves {paths} only")

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        state = self.state
        metrics = state.metrics
        ex = Exchange(
            request,
            state,
            state.live.current,
            request_id_from(request.headers),
            traceparent_from(request.headers),
        )
        metrics.in_flight.inc()
        response: web.StreamResponse | None = None
        try:
            for stage in self._stages:
                response = await stage(ex)
                if response is not None:
                    break  # a halt: this stage answered
            else:
                response = ex.response  # the forward stage's answer
            assert response is not None, "the stages must answer"
        except RequestRejected as exc:
            ex.answered_locally = True
            metrics.rejected.labels(type(exc).__name__).inc()
            response = problem_for(ex, exc.status, exc.title, exc.detail)
            if exc.retry_after is not None:
                response.headers["Retry-After"] = str(exc.retry_after)
            response.force_close()  # the unread body or bad framing makes the stream unsafe
        except UpstreamError as exc:
            kind = "timeout" if exc.status == 504 else "unavailable"
            metrics.upstream_errors.labels(exc.upstream, kind).inc()
            log.warning("%s %s -> %s: %s", request.method, _path(ex), exc.upstream, exc.detail)
            response = problem_for(
                ex, exc.status, exc.title, f"upstream {exc.upstream!r}: {exc.detail}"
            )
            if isinstance(exc, UpstreamRefused) and exc.retry_after is not None:
                # whole seconds (RFC 9110 §10.2.3), never 0: "now" would invite a retry storm
                response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        except (asyncio.CancelledError, ConnectionResetError):
            raise  # the client went away: nothing to answer
        except Exception:
            log.exception("unexpected error for %s %s", request.method, _path(ex))
            response = problem_for(
                ex, 500, "Internal Server Error", "the facade failed; see its log"
            )
        finally:
            metrics.in_flight.dec()
            if ex.service is not None or ex.body is not None:
                ex.release()  # what the stages held: an unrelayed answer, a spooled body
        status = ex.status or response.status
        elapsed = time.perf_counter() - ex.started
        served_by = ex.served_by
        metrics.record_request(ex.capability_name, ex.mode, served_by, status, elapsed)
        if ex.config.inventory is not None and not ex.answered_locally and ex.target is not None:
            match = ex.match
            state.traffic.count(
                ex.config,
                request.method,
                ex.target.path,
                match.route.capability if match is not None else "",
                served_by,
            )
        if self._log_access:
            access_log.info(
                "%s %s %s %d %.1fms %s rid=%s",
                request.remote,
                request.method,
                _path(ex),
                status,
                elapsed * 1000,
                route_header(ex),
                ex.request_id,
            )
        if self._log_json:
            json_log.info(json_access.entry(ex, response, status=status, elapsed=elapsed))
        if self._sampler is not None:
            # after the answer is complete: what is recorded is the body the client got
            self._sampler.observe(ex, response)
        return response


# how long a background task may take to end once cancelled before it is cancelled again
RECANCEL_AFTER = 0.5


def background(
    stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None], *, name: str
) -> None:
    """Run ``work`` as a task until the stack closes: then it is cancelled until it ends.

    Once is not always enough: a task can lose a cancel (``asyncio.wait_for`` on Python 3.11
    when what it waited for ends at the same moment, gh-86296), and a close that awaited such
    a task would never return: a worker that cannot stop, a drain that never ends. A failure
    of the task is logged by ``spawn``; the close goes on to the next resource.
    """
    task = spawn(work, name=name)

    async def stop() -> None:
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=RECANCEL_AFTER)

    stack.push_async_callback(stop)


def _path(ex: Exchange) -> str:
    # the normalized path only: query strings can carry tokens, and logs must not
    return ex.target.path if ex.target is not None else "(unparsed)"
