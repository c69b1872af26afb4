"""Pooled HTTP clients for the monolith and each service: one ClientSession per upstream.

The sessions are proxy-shaped: no cookie jar (a shared jar would leak one client's cookies to
another), no automatic decompression (bodies pass as they came, gzip included), no redirect
following, and no headers of their own (``skip_auto_headers``) so an upstream sees only what
the client sent plus what the facade adds on purpose.

Connections are reused only while clean (``facade.clean_connections``, SECURITY.md U1); an
answer whose status no request can get (U2) is an error, never relayed; header lines of an
answer may be as long as those of a request (U4).

The stages see an upstream through a port of one method, ``Upstream.send`` (as httpx's
transport is one method): ``facade.lean_upstream.LeanUpstream`` is the default one (the lean
client), ``UpstreamClient`` the pooled aiohttp one (``serve --upstream-client aiohttp``), and
the unit tests use ``tests/support/fake_upstream.py``. Its answer, ``Answer``, is a protocol
that aiohttp's ``ClientResponse`` and ``LeanAnswer`` satisfy as they are: nothing is wrapped
per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from facade.clean_connections import CleanConnector
from facade.config.normalize import Target

log = logging.getLogger("strangler.upstream")

# aiohttp's client would otherwise add these to every request (SECURITY.md H7)
SKIP_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})
_SKIP: CIMultiDict[None] = CIMultiDict((name, None) for name in sorted(SKIP_AUTO_HEADERS))
# One limit for a header line in both directions (the server's for requests, the clients' for
# answers): aiohttp's default, 8 KiB, is too small for large cookies and JWTs, and an answer
# refused for a header a request may carry would turn a legitimate Set-Cookie into a 502 (U4)
MAX_FIELD_SIZE = 16384
MAX_LINE_SIZE = 16384  # the status line of an answer; the request line keeps aiohttp's 8 KiB


class InvalidUpstreamStatus(aiohttp.ClientResponseError):
    """The upstream answered a status no request can get: under 100, over 599, or ``101``
    without an ``Upgrade`` asked for (U2). The facade answers 502 instead of relaying it."""


class UpstreamProtocolError(aiohttp.ClientError):
    """The upstream's answer is not HTTP the facade will relay (``facade.lean_upstream``): an
    invalid status (U2), a malformed head or framing. The message says which."""


def valid_status(status: int, *, upgrade_asked: bool) -> bool:
    """Whether a final answer's status may be relayed (RFC 9110 section 15: 100-599; 1xx are
    interim, and aiohttp only stops at ``101``, which needs an ``Upgrade`` in the request)."""
    if status == 101:
        return upgrade_asked
    return 200 <= status <= 599


class ProxyRequest(aiohttp.ClientRequest):
    """A client request that adds no headers of its own: upstreams see what the client sent.

    Same effect as ``skip_auto_headers=SKIP_AUTO_HEADERS``, whose general form copies and sorts
    the headers on every request (a measurable share of the facade's per-request time).
    """

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        self._skip_auto_headers = _SKIP


class ProxyResponse(aiohttp.ClientResponse):
    """A client response whose status is checked before anyone reads it (U2)."""

    async def start(self, connection: aiohttp.connector.Connection) -> ProxyResponse:
        await super().start(connection)
        if not valid_status(self.status, upgrade_asked="Upgrade" in self.request_info.headers):
            # aiohttp closes the connection on this error: what follows is no HTTP to trust
            raise InvalidUpstreamStatus(
                self.request_info,
                (),
                status=self.status,
                message=f"invalid status {self.status} from the upstream",
            )
        return self


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    name: str  # "legacy" or the service's name in routes.yaml
    url: str
    timeout: float  # longest wait for the next byte of the answer
    connect_timeout: float
    max_connections: int


class AnswerBody(Protocol):
    """The part of aiohttp's ``StreamReader`` the stages read an answer's body with."""

    async def readany(self) -> bytes: ...

    async def read(self, n: int = -1) -> bytes: ...


class Answer(Protocol):
    """An upstream's answer, its status line and headers read: aiohttp's ``ClientResponse`` as
    the stages use it. ``read()`` reads the whole body (and keeps it: a second call returns
    it again); ``content.readany()`` streams it; ``close()`` drops the connection."""

    @property
    def status(self) -> int: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def headers(self) -> CIMultiDictProxy[str]: ...

    @property
    def content_length(self) -> int | None: ...

    @property
    def content(self) -> AnswerBody: ...

    async def read(self) -> bytes: ...

    def close(self) -> None: ...


class Upstream(Protocol):
    """The port the stages call an upstream through: one method, and what names it."""

    @property
    def name(self) -> str: ...  # "legacy" or the service's name in routes.yaml

    @property
    def base(self) -> URL: ...  # its base URL: the origin rewritten in Location headers

    @property
    def settings(self) -> UpstreamSettings: ...

    def send(
        self,
        method: str,
        target: Target,
        *,
        headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None,
    ) -> AbstractAsyncContextManager[Answer]:
        """Send one request: ``async with upstream.send(...) as answer``. Entering raises
        ``TimeoutError`` or ``aiohttp.ClientError`` when no answer comes."""
        ...


class PooledUpstream(Upstream, Protocol):
    """An upstream the process holds open: closed at shutdown (``Upstreams.close``)."""

    async def close(self) -> None: ...


UpstreamFactory = Callable[[UpstreamSettings], PooledUpstream]


def describe_client_error(exc: BaseException) -> str:
    """A short, log-safe account of why a call to an upstream failed."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, InvalidUpstreamStatus):
        return exc.message
    if isinstance(exc, UpstreamProtocolError):
        return str(exc)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the upstream closed the connection without answering"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class UpstreamClient:
    """One upstream: its base URL and its connection pool."""

    def __init__(self, settings: UpstreamSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.base = URL(settings.url)
        self._base_path = self.base.raw_path.rstrip("/")
        self.session = aiohttp.ClientSession(
            connector=CleanConnector(
                limit=settings.max_connections,
                limit_per_host=0,
                keepalive_timeout=30,
                ttl_dns_cache=60,
            ),
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=settings.connect_timeout,
                sock_read=settings.timeout,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            request_class=ProxyRequest,
            response_class=ProxyResponse,
            raise_for_status=False,
            max_line_size=MAX_LINE_SIZE,
            max_field_size=MAX_FIELD_SIZE,
        )

    def url_for(self, target: Target) -> URL:
        """The upstream URL for a normalized target, built without re-parsing the path.

        ``URL(str)`` would resolve ``..`` and ``%2e%2e`` again, so the upstream could see a path
        the matcher never saw; ``build(..., encoded=True)`` takes the path as it is.
        """
        path = self._base_path + target.path
        if target.query == "":
            # yarl drops an empty query; a bare '?' is still part of what the client sent
            path += "?"
        return URL.build(
            scheme=self.base.scheme,
            host=self.base.raw_host or "",
            port=self.base.explicit_port,
            path=path,
            query_string=target.query or "",
            encoded=True,
        )

    def send(
        self,
        method: str,
        target: Target,
        *,
        headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None,
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """Start a request; use as ``async with client.send(...) as response``."""
        return self.session.request(
            method,
            self.url_for(target),
            headers=headers,
            data=body,
            allow_redirects=False,
            compress=None,
            expect100=False,
        )

    async def close(self) -> None:
        await self.session.close()


class Upstreams:
    """The clients in use; a reload that changes an upstream's settings gets a new pool.

    ``factory`` builds a client from its settings: the pooled aiohttp ``UpstreamClient``, or
    a fake in tests (``FacadeState(live, upstreams=Upstreams(fake.factory))``).

    A client is held by the configurations that asked for it (``get``) until each lets it go
    (``release``, when the configuration is dropped: ``facade.state``). One that a reload
    replaced is closed once the last of them lets go: no request can still be using it, and
    a facade reloaded many times does not keep every pool it ever had until shutdown.
    """

    def __init__(self, factory: UpstreamFactory = UpstreamClient) -> None:
        self._factory = factory
        self._clients: dict[str, PooledUpstream] = {}
        # by id(client): how many holders, and the replaced clients not closed yet
        self._holders: dict[int, int] = {}
        self._retired: dict[int, PooledUpstream] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # release() may come from another thread (a compare job let its configuration go), or
        # from the collector freeing a configuration inside get(): reentrant
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self, settings: UpstreamSettings) -> PooledUpstream:
        """The client for ``settings``, held until ``release(client)`` (on the event loop)."""
        with contextlib.suppress(RuntimeError):  # no loop: built outside one (tests, tools)
            self._loop = asyncio.get_running_loop()
        unheld: PooledUpstream | None = None
        with self._lock:
            client = self._clients.get(settings.name)
            if client is None or client.settings != settings:
                if client is not None:
                    # held by a configuration still in use: closed at its last release
                    self._retired[id(client)] = client
                    if id(client) not in self._holders:
                        unheld = client
                client = self._clients[settings.name] = self._factory(settings)
            self._holders[id(client)] = self._holders.get(id(client), 0) + 1
        if unheld is not None:
            self._close_soon(unheld)
        return client

    def release(self, client: PooledUpstream) -> None:
        """One holder of ``client`` let it go (any thread)."""
        with self._lock:
            left = self._holders.get(id(client), 0) - 1
            if left > 0:
                self._holders[id(client)] = left
                return
            self._holders.pop(id(client), None)
            if id(client) not in self._retired:
                return  # still the one in use: the next configuration gets it again
        self._close_soon(client)

    def _close_soon(self, client: PooledUpstream) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # no loop to close it on: shutdown (close()) has it, or nothing runs
        # never a task started from here: this may run inside the collector, anywhere
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._start_close, client)

    def _start_close(self, client: PooledUpstream) -> None:
        with self._lock:
            if self._retired.pop(id(client), None) is None:
                return  # shutdown closed it already
        # kept referenced in _closing, awaited at shutdown (facade.tasks sits above this layer)
        task = asyncio.get_running_loop().create_task(
            client.close(), name=f"close-upstream-{client.name}"
        )
        self._closing.add(task)
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("closing a replaced upstream client failed: %s", exc)

    async def close(self) -> None:
        with self._lock:
            clients = [*self._clients.values(), *self._retired.values()]
            self._clients.clear()
            self._retired.clear()
            self._holders.clear()
        for client in clients:
            await client.close()
        if self._closing:
            await asyncio.wait(set(self._closing))
