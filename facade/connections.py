"""Client connections: how long a client may take, how many it may hold, what a bad one reads.

aiohttp's ``RequestHandler`` has one timer, ``keepalive_timeout`` (also armed at accept), and
nothing else: a client that sends its headers one byte a second keeps its connection for as long
as it likes (aiohttp's default: 3,630 s), every accepted connection is served however many there
are, its own 400 page quotes up to 5 KB of the offending bytes, and while the server drains it
drops the rest of a request body in flight. ``ClientConnection`` adds, per connection:

- a **header deadline** (``limits.header_timeout``): armed at accept and at the first byte of
  each later request, disarmed when that request's headers are parsed. When it passes, a
  client that sent part of a request gets ``408`` problem+json and the connection closes (it
  learns why; nginx closes without a word); one that sent nothing is closed silently, as an
  idle keep-alive connection is (an unasked-for 408 would be read as the answer to whatever
  that client sends next);
- the **idle keep-alive timeout** (``limits.keepalive_timeout``): aiohttp's own timer;
- the **connection cap** (``limits.max_client_connections``, per process): a connection over
  it gets one answer, then closes: ``503`` problem+json with ``Retry-After``, except that
  ``/healthz``, ``/readyz`` and ``/metrics`` are served, so probes still work at the cap. It
  must send its request within ``OVER_CAP_HEADER_TIMEOUT``. Reading the request first means
  the 503 answers it (closing at once can reset the client's request in flight, and it then
  reads "connection reset", not why). Only when the descriptors left for clients run out
  too (``room``: the open-file limit minus what upstream pools and the process's own files
  may need; a served connection counts twice, for its body's temporary file) is a
  connection answered 503 at accept and closed in the same instant, so a flood
  never makes accept() fail (EMFILE) nor starves the upstream connections of descriptors;
- **problem+json for aiohttp's own errors** (a malformed request: 400), never the bytes;
- **bodies in flight keep flowing while the server drains**, so an upload that started before
  SIGTERM finishes within the drain timeout.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import resource
import time
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from facade.admin import reserved_path
from facade.config import Config
from facade.config.normalize import DotSegments, normalize_target
from facade.errors import RETRY_SHORTLY, RequestRejected
from facade.metrics import Metrics
from facade.problem import problem_bytes, problem_response
from facade.shadow import MAX_IN_FLIGHT
from facade.state import FacadeState
from facade.throttle import LOG_INTERVAL, LogThrottle

log = logging.getLogger("strangler.connections")

DEFAULT_MAX_CLIENT_CONNECTIONS = 10_000
# descriptors a process needs besides client and upstream connections: listening sockets, the
# log, the routes file, the result store, the readiness probe, pipes to the supervisor
RESERVED_FILES = 64
# a connection over the cap holds a descriptor only this long unless its request comes
OVER_CAP_HEADER_TIMEOUT = 0.25

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def upstream_files(config: Config) -> int:
    """Descriptors the facade may hold for upstream connections: each pool at its limit, and
    the shadow's own lean pools (a candidate's calls and the monolith twins they ask, each at
    most ``MAX_IN_FLIGHT`` or the pool's size) whenever a service exists to shadow."""
    routes = config.routes
    services = [s.max_concurrency for s in routes.services.values()]
    pools = routes.legacy.max_connections + sum(services)
    if not services:
        return pools
    shadow = sum(min(MAX_IN_FLIGHT, size) for size in services)
    return pools + shadow + min(MAX_IN_FLIGHT, routes.legacy.max_connections)


def client_room(*, open_files: int, reserved: int) -> int:
    """Descriptors left for client connections once ``reserved`` ones are kept."""
    return max(1, open_files - reserved)


def client_connection_cap(configured: int | None, *, open_files: int, reserved: int) -> int:
    """The most client connections one process serves at once.

    ``configured`` (``limits.max_client_connections``) wins when set (though ``admission``
    refuses beyond the room whatever the cap). Unset, it is
    ``DEFAULT_MAX_CLIENT_CONNECTIONS`` or three eighths of the room the open-file limit leaves
    (``client_room``), whichever is lower: a served connection may hold a second descriptor,
    its request body's temporary file (facade/body_spool.py), so served connections take up to
    three quarters; the last quarter is for connections over the cap, which are read (briefly)
    so that probes are served and others told why.
    """
    if configured is not None:
        return configured
    room = client_room(open_files=open_files, reserved=reserved)
    return max(1, min(DEFAULT_MAX_CLIENT_CONNECTIONS, room * 3 // 8))


class Admission(enum.Enum):
    SERVE = "serve"
    ONE_ANSWER = "one answer"  # over the cap: probes served, others 503, then closed
    REFUSE = "refuse"  # no descriptor to spare: 503 at accept, closed at once


def admission(open_now: int, *, cap: int, room: int) -> Admission:
    """What a new connection gets when ``open_now`` others are open. The room comes first: a
    configured cap above it cannot be reached (descriptors cannot be conjured)."""
    if open_now >= room:
        return Admission.REFUSE
    if open_now < cap:
        return Admission.SERVE
    return Admission.ONE_ANSWER


def open_file_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; return (before, after).

    The soft limit is often 1,024 while the hard one allows far more; Python, unlike Go or the
    JVM, never raises it. Workers inherit the raised limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft, soft  # some sandboxes refuse; the cap then follows the soft limit
    return soft, hard


ACCEPT_FAILED = "socket.accept() out of system resource"  # asyncio's message for these
ACCEPT_LOG_INTERVAL = LOG_INTERVAL


class AcceptErrors:
    """An asyncio exception handler that logs failed accepts (EMFILE, ENFILE, ENOBUFS, ENOMEM)
    at most once per ``interval``, with how many failed since the last line.

    Python 3.11's accept loop reports every failed accept with a traceback, up to ``backlog``
    (1,024) times per retry: 1,100 idle connections at the default open-file limit wrote
    280,000 log lines in 5 s. Everything else goes to asyncio's default handler.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        interval: float = ACCEPT_LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._throttle = LogThrottle(interval=interval, clock=clock)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: Mapping[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") != ACCEPT_FAILED or not isinstance(exc, OSError):
            loop.default_exception_handler(dict(context))
            return
        self.failed(exc)

    def failed(self, exc: OSError) -> bool:
        """Count one failed accept; return True when it was logged."""
        name = errno.errorcode.get(exc.errno or 0, "OSError")
        self._metrics.accept_errors.labels(name).inc()
        count = self._throttle.due()
        if count is None:
            return False
        log.error(
            "cannot accept connections: %s (%s); %d failed accepts since the last such line, "
            "next report in %.0fs at the earliest; raise the open-file limit or lower "
            "limits.max_client_connections",
            exc.strerror,
            name,
            count,
            self._throttle.interval,
        )
        return True


class FacadeServer(web.Server):
    """aiohttp's low-level server, making a ``ClientConnection`` per accepted connection with
    the limits of the routes.yaml in force at that moment (a reload applies to new ones)."""

    def __init__(
        self,
        handler: Handler,
        *,
        state: FacadeState,
        max_connections: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.state = state
        self.open_files = open_file_limit()
        self.open = 0  # connections made and not lost: what the cap counts
        # a fixed cap instead of limits.max_client_connections (the admin listener's own)
        self._max_connections = max_connections

    def cap(self) -> int:
        if self._max_connections is not None:
            return self._max_connections
        config = self.state.live.current
        return client_connection_cap(
            config.routes.limits.max_client_connections,
            open_files=self.open_files,
            reserved=upstream_files(config) + RESERVED_FILES,
        )

    def admit(self) -> Admission:
        """Decide for a connection just made (``open`` does not count it yet)."""
        config = self.state.live.current
        reserved = upstream_files(config) + RESERVED_FILES
        room = client_room(open_files=self.open_files, reserved=reserved)
        return admission(self.open, cap=self.cap(), room=room)

    def __call__(self) -> ClientConnection:
        limits = self.state.live.current.routes.limits
        kwargs = {**self._kwargs, "keepalive_timeout": limits.keepalive_timeout}
        return ClientConnection(
            self, loop=self._loop, header_timeout=limits.header_timeout, **kwargs
        )


class ClientConnection(RequestHandler):
    """One client connection: aiohttp's protocol plus the limits in the module docstring."""

    __slots__ = ("_header_bytes", "_header_timeout", "_header_timer", "_last_body", "_over_cap")

    def __init__(self, manager: FacadeServer, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0  # bytes of a request whose headers are not complete yet
        self._last_body: Any = None  # the StreamReader of the last parsed request
        self._over_cap = False

    @property
    def _server(self) -> FacadeServer | None:
        manager = self._manager
        return manager if isinstance(manager, FacadeServer) else None

    # -- accept and close ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._server
        timeout = self._header_timeout
        if server is not None:
            # decided here, not in the factory: connection_made calls come one at a time, so
            # a burst of accepts cannot all see the count below the cap
            admitted = server.admit()
            server.open += 1
            metrics = server.state.metrics
            metrics.client_connections.inc()
            if admitted is not Admission.SERVE:
                metrics.client_connections_refused.inc()
            if admitted is Admission.REFUSE:
                # counted until connection_lost, which the transport's close brings
                # a cast, not an isinstance check: uvloop's transports write like asyncio's
                # without deriving from its classes
                writer = cast("asyncio.WriteTransport", transport)
                writer.write(problem_bytes(503, self._cap_text(), retry_after=RETRY_SHORTLY))
                writer.close()
                return
            if admitted is Admission.ONE_ANSWER:
                self._over_cap = True
                timeout = min(timeout, OVER_CAP_HEADER_TIMEOUT)
        super().connection_made(transport)
        self._arm_header_timer(timeout)

    def connection_lost(self, exc: BaseException | None) -> None:
        server = self._server
        if server is not None:
            server.open -= 1
            server.state.metrics.client_connections.dec()
        self._disarm_header_timer()
        super().connection_lost(exc)

    # -- the header deadline -------------------------------------------------------------

    def _arm_header_timer(self, timeout: float) -> None:
        self._disarm_header_timer()
        self._header_bytes = 0
        self._header_timer = self._loop.call_later(timeout, self._header_deadline_passed)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        if self._close or self._force_close:
            self._feed_body_while_draining(data)
            return
        parsed_before = self._request_count
        super().data_received(data)
        if self._request_count > parsed_before:
            # a request's headers are complete (or it was malformed and is answered 400);
            # bytes after it in this same segment (pipelining) wait under the idle timeout
            self._disarm_header_timer()
            if self._messages:
                self._last_body = self._messages[-1][1]
        elif data and self._between_requests():
            if self._header_timer is None:
                # the first byte of the next request on a kept-alive connection
                self._arm_header_timer(self._header_timeout)
            self._header_bytes += len(data)

    def _between_requests(self) -> bool:
        body = self._last_body
        return body is None or bool(body.is_eof())

    def _header_deadline_passed(self) -> None:
        self._header_timer = None
        transport = self.transport
        if transport is None or self._force_close:
            return
        server = self._server
        if server is not None:
            server.state.metrics.client_timeouts.labels("headers").inc()
        if self._request_in_progress or self._messages:
            # the slow bytes are a pipelined next request: finish the current one, then close
            self.close()
            return
        if self._header_bytes:
            log.info(
                "closed a connection from %s: its request headers took over %.0fs",
                _peer(self),
                self._header_timeout,
            )
            transport.write(
                problem_bytes(
                    408,
                    f"the request headers did not arrive within {self._header_timeout:g}s",
                )
            )
        self.force_close()  # the transport sends what was written, then closes

    # -- the cap -------------------------------------------------------------------------

    async def _handle_request(
        self,
        request: web.BaseRequest,
        start_time: float | None,
        request_handler: Handler,
    ) -> tuple[web.StreamResponse, bool]:
        if self._over_cap:
            server = self._server
            dot_segments = (
                server.state.live.current.routes.limits.dot_segments
                if server is not None
                else "resolve"
            )
            request_handler = _one_answer(request_handler, self._cap_text(), dot_segments)
        return await super()._handle_request(request, start_time, request_handler)

    def _cap_text(self) -> str:
        server = self._server
        cap = server.cap() if server is not None else 0
        return f"the facade is serving its maximum of {cap} client connections; retry shortly"

    # -- drain ---------------------------------------------------------------------------

    def _feed_body_while_draining(self, data: bytes) -> None:
        """aiohttp stops reading once the server drains (``close()``, then ``shutdown()``),
        so an upload in flight would never finish: keep feeding the body of the request being
        handled; anything after it (a pipelined request) is dropped, as aiohttp does."""
        request = self._current_request
        parser = self._parser
        if request is None or parser is None or request.content.is_eof():
            return
        try:
            parser.feed_data(data)
        except HttpProcessingError:
            # bad chunk framing mid-body: the body never completes; the handler's own
            # timeouts, then the drain timeout, end it
            return

    # -- aiohttp's own error answers -----------------------------------------------------

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse (400), a handler that raised
        (500) or timed out (504): problem+json naming the kind of error, never the bytes
        (aiohttp's own page quotes up to 5 KB of them: headers, cookies, tokens)."""
        kind = type(exc).__name__ if exc is not None else HTTPStatus(status).phrase
        if isinstance(exc, HttpProcessingError):
            # plain HTTP on another protocol (TLS to an HTTP port) is common on the internet
            level = (
                logging.DEBUG
                if self._request_count == 1 and isinstance(exc, BadHttpMethod)
                else logging.INFO
            )
            log.log(level, "rejected a malformed request from %s: %s", request.remote, kind)
            server = self._server
            if server is not None:
                server.state.metrics.rejected.labels("MalformedRequest").inc()
            detail = f"the request is not valid HTTP/1.1 ({kind}); its bytes are not repeated"
        else:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
            detail = "the facade failed; see its log"
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started: no error answer can follow")
        response = problem_response(status, HTTPStatus(status).phrase, detail)
        response.force_close()
        return response


def _one_answer(handler: Handler, detail: str, dot_segments: DotSegments) -> Handler:
    """The only request of a connection over the cap: probes are served (the path read as the
    route stage reads it), others get 503; either way the connection then closes."""

    async def answer(request: web.BaseRequest) -> web.StreamResponse:
        if request.method in ("GET", "HEAD") and _is_probe(request.raw_path, dot_segments):
            response = await handler(request)
        else:
            response = problem_response(503, "Service Unavailable", detail)
            response.headers["Retry-After"] = str(RETRY_SHORTLY)
        response.force_close()
        return response

    return answer


def _is_probe(raw_path: str, dot_segments: DotSegments) -> bool:
    try:
        path = normalize_target(raw_path, dot_segments=dot_segments).path
    except RequestRejected:
        return False  # 503 then: the connection closes either way
    return reserved_path(path) is not None


def _peer(connection: RequestHandler) -> str:
    peer = connection.peername
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "?"
