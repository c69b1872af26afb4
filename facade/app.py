"""The facade's aiohttp application: ``create_app(config)`` wires state, stages and resources."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import HttpVersion11, web
from aiohttp.typedefs import Middleware

from facade.admin import probe_legacy
from facade.config import Config
from facade.errors import RequestRejected, UpstreamError
from facade.exchange import EXCHANGE, Exchange, route_header
from facade.headers import request_id_from, traceparent_from
from facade.metrics import Metrics
from facade.normalize import normalize_target
from facade.problem import problem_response
from facade.reload import watch_routes
from facade.stages import Stage, default_stages
from facade.state import CONFIG, METRICS, READINESS, UPSTREAMS, LiveConfig, Readiness
from facade.upstream import Upstreams

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("strangler.facade")
access_log = logging.getLogger("strangler.access")


def create_app(
    config: Config,
    *,
    stages: Sequence[Stage] | None = None,
    watch: bool = True,
    access_log_enabled: bool = False,
) -> web.Application:
    """Build the facade for ``config``; nothing is opened until the app starts."""
    handler = _make_handler(list(stages or default_stages()), access_log_enabled)
    app = web.Application(
        handler_args={"max_field_size": 16384}, middlewares=[_unroutable_fallback(handler)]
    )
    app[CONFIG] = LiveConfig(config)
    app[METRICS] = Metrics()
    app[READINESS] = Readiness()
    app.cleanup_ctx.append(_upstreams)
    app.cleanup_ctx.append(probe_legacy)
    if watch:
        app.cleanup_ctx.append(watch_routes)
    # one catch-all: the facade normalizes and routes itself, on the raw request-target
    app.router.add_route("*", r"/{tail:[\s\S]*}", handler, expect_handler=_expect_continue)
    return app


def _unroutable_fallback(facade: Handler) -> Middleware:
    """Targets aiohttp's router cannot place (``*``, absolute-form, authority-form) still reach
    the facade's own handler, which answers them 400 problem+json, rather than a 404 text."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.http_exception is not None:
            return await facade(request)
        return await handler(request)

    return middleware


async def _expect_continue(request: web.Request) -> web.StreamResponse | None:
    """Answer ``Expect: 100-continue`` ourselves: 413 at once if the announced body is too big.

    The client then never sends a body that would be refused, and no upstream is contacted.
    """
    expect = request.headers.get("Expect", "")
    if request.version != HttpVersion11:
        return None
    if expect.lower() != "100-continue":
        return problem_response(417, "Expectation Failed", f"unsupported Expect: {expect!r}")
    config = request.app[CONFIG].current
    limit = config.routes.limits.max_body
    try:
        path = normalize_target(request.raw_path).path
    except RequestRejected:
        path = None  # the handler answers 400 for it
    match = config.matcher.match(request.method, path) if path is not None else None
    if match is not None:
        limit = config.routes.capabilities[match.route.capability].max_body or limit
    length = request.content_length
    if length is not None and length > limit:
        response = problem_response(
            413,
            "Content Too Large",
            f"the request body ({length} bytes) is over the {limit}-byte limit",
        )
        response.force_close()
        return response
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the interim answer is not the response
    return None


async def _upstreams(app: web.Application) -> AsyncIterator[None]:
    app[UPSTREAMS] = upstreams = Upstreams()
    yield
    await upstreams.close()


def _make_handler(stages: list[Stage], log_access: bool) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        app = request.app
        metrics = app[METRICS]
        ex = Exchange(
            request,
            app[CONFIG].current,
            request_id_from(request.headers),
            traceparent_from(request.headers),
        )
        request[EXCHANGE] = ex
        metrics.in_flight.inc()
        response: web.StreamResponse | None = None
        try:
            for stage in stages:
                response = await stage(ex)
                if response is not None:
                    break
            assert response is not None, "the last stage must answer"
        except RequestRejected as exc:
            ex.answered_locally = True
            metrics.rejected.labels(type(exc).__name__).inc()
            response = _problem(ex, exc.status, exc.title, exc.detail)
            response.force_close()  # the unread body or bad framing makes the stream unsafe
        except UpstreamError as exc:
            kind = "timeout" if exc.status == 504 else "unavailable"
            metrics.upstream_errors.labels(exc.upstream, kind).inc()
            log.warning("%s %s -> %s: %s", request.method, _path(ex), exc.upstream, exc.detail)
            response = _problem(
                ex, exc.status, exc.title, f"upstream {exc.upstream!r}: {exc.detail}"
            )
        except (asyncio.CancelledError, ConnectionResetError):
            raise  # the client went away: nothing to answer
        except Exception:
            log.exception("unexpected error for %s %s", request.method, _path(ex))
            response = _problem(ex, 500, "Internal Server Error", "the facade failed; see its log")
        finally:
            metrics.in_flight.dec()
        status = ex.status or response.status
        elapsed = time.perf_counter() - ex.started
        metrics.requests.labels(ex.capability_name, ex.mode, ex.served_by, str(status)).inc()
        metrics.latency.labels(ex.capability_name, ex.served_by).observe(elapsed)
        if log_access:
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
        return response

    return handle


def _problem(ex: Exchange, status: int, title: str, detail: str) -> web.Response:
    ex.status = status
    response = problem_response(status, title, detail, request_id=ex.request_id)
    if ex.config.routes.debug_headers:
        response.headers["X-Strangler-Route"] = route_header(ex)
    return response


def _path(ex: Exchange) -> str:
    # the normalized path only: query strings can carry tokens, and logs must not
    return ex.target.path if ex.target is not None else "(unparsed)"
