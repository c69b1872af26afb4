"""The served path's upstream client on the lean design: asyncio streams over pooled keep-alive
connections, HTTP/1.1 framed here, the answer's body streamed back as it comes.

``facade.lean_http`` showed that a call through aiohttp's client costs about 2.6 times one
written straight to a stream; the served path spent most of its time there. This client is
that design made to serve clients: it implements the upstream port (``facade.upstream``)
the stages call, so retries, the breaker, fallback, header policy, Location rewriting, body
limits, shadow capture and metrics are the stages' as before. ``STRANGLER_UPSTREAM_CLIENT``
set to ``aiohttp`` selects aiohttp's client instead (``upstream_factory``).

The request: framed here (``Content-Length`` for a body in memory or of a length the body
step announced, else ``chunked``); a spooled body is streamed from its file while the
answer's head is awaited, so an upstream that answers early (a 413) is heard. The answer,
after RFC 9112: interim 1xx answers skipped, each with the read timeout re-armed (U3); a
final status outside 200-599, or a ``101``, is an error (U2); no body for HEAD, 204 and 304;
then ``Transfer-Encoding`` (chunked, or read until close), then ``Content-Length`` (values
that disagree or are not digits are an error), else read until close. Header lines up to
``MAX_FIELD_SIZE`` each (U4), names tokens, values free of control characters.

The pool holds at most ``max_connections`` connections in use per upstream (callers wait for
one, as with aiohttp's connector). A connection goes back only when its answer was read to
the end, neither side asked to close, no byte beyond the answer came (U1), and the whole
request body was sent; a pooled one is checked for unread bytes or a FIN before reuse. A
reused connection the server had closed while idle, found out before any byte of an answer,
is retried once on a fresh connection for idempotent methods (RFC 9110 section 9.2.2) with a
body that can be sent again; never for POST or PATCH, nor for a body streamed from a file.

Errors are aiohttp's exception types, so the stages and the resilience layer classify them as
before: ``ClientConnectorError`` (cannot connect), ``ConnectionTimeoutError``,
``SocketTimeoutError`` (no byte within the read timeout), ``ServerDisconnectedError`` (closed
without answering), ``ClientPayloadError`` (broken off mid-body), ``UpstreamProtocolError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncIterable, Mapping
from types import TracebackType

import aiohttp
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from facade.config.normalize import Target
from facade.lean_http import _Connection, _Reader, open_connection, take_idle
from facade.upstream import (
    MAX_FIELD_SIZE,
    MAX_LINE_SIZE,
    UpstreamClient,
    UpstreamFactory,
    UpstreamProtocolError,
    UpstreamSettings,
    valid_status,
)
from parallel_run.methods import IDEMPOTENT_METHODS

CLIENT_ENV = "STRANGLER_UPSTREAM_CLIENT"
MAX_HEAD = 256 * 1024  # one answer's status line and headers together
READ_SIZE = 65536  # the most one read of a body returns
_BODYLESS_STATUSES = frozenset({204, 304})
# the client library frames the message: these from the caller are never copied
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
# methods aiohttp sends "Content-Length: 0" for when there is no body (kept for parity)
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# a header line: a token, a colon, a value free of control bytes (HTAB aside), framed by blanks
_HEADER_LINE = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*\r\n"
)
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?\r\n")


def upstream_factory(choice: str | None = None) -> UpstreamFactory:
    """The client the served path calls upstreams with: ``lean`` (the default) or ``aiohttp``,
    from ``choice`` or else ``STRANGLER_UPSTREAM_CLIENT`` (a team's way back to aiohttp's)."""
    choice = choice or os.environ.get(CLIENT_ENV, "") or "lean"
    if choice == "lean":
        return LeanUpstream
    if choice == "aiohttp":
        return UpstreamClient
    raise ValueError(f"{CLIENT_ENV} must be 'lean' or 'aiohttp', not {choice!r}")


class _ReadTimeout(Exception):
    """No byte within the read timeout: set on the connection's reader, which is then dropped."""


def _expire(reader: _Reader) -> None:
    reader.set_exception(_ReadTimeout())


class _Stale(Exception):
    """The connection ended before any byte of an answer: the request may be sent again."""


class LeanUpstream:
    """One upstream: its base URL and a pool of lean keep-alive connections."""

    def __init__(self, settings: UpstreamSettings) -> None:
        base = URL(settings.url)
        if base.scheme not in ("http", "https") or not base.raw_host:
            raise ValueError(f"expected an http(s) URL, got {settings.url}")
        self.settings = settings
        self.name = settings.name
        self.base = base
        self._base_path = base.raw_path.rstrip("/")
        self._host = base.raw_host
        is_ssl = base.scheme == "https"
        self._port = base.port or (443 if is_ssl else 80)
        self._ssl = ssl.create_default_context() if is_ssl else None
        default_port = self._port == (443 if is_ssl else 80)
        self._host_header = self._host if default_port else f"{self._host}:{self._port}"
        self._key = ConnectionKey(self._host, self._port, is_ssl, is_ssl, None, None, None, None)
        self._limit = settings.max_connections  # 0: no limit, as aiohttp's connector
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle: deque[_Connection] = deque()
        self._closed = False

    def send(
        self,
        method: str,
        target: Target,
        *,
        headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None,
    ) -> _Send:
        """Start a request; use as ``async with client.send(...) as answer``."""
        return _Send(self, method, target, headers, body)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.popleft().close()

    # the request --------------------------------------------------------------------------

    def _head(
        self,
        method: str,
        target: Target,
        headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None,
    ) -> tuple[bytes, bool]:
        """The request line and headers, and whether the body goes chunked."""
        path = self._base_path + target.path
        if target.query is not None:
            path += "?" + target.query
        if " " in path or "\r" in path or "\n" in path:
            raise UpstreamProtocolError("the request target holds a space or a line break")
        lines = [f"{method} {path} HTTP/1.1\r\n"]
        has_host = False
        length: str | None = None
        for name, value in headers.items():
            lower = name.lower()
            if lower in _FRAMING:
                if lower == "content-length":
                    length = value
                continue
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise UpstreamProtocolError(f"header {name!r} holds a line break")
            if lower == "host":
                has_host = True
            lines.append(f"{name}: {value}\r\n")
        if not has_host:
            lines.append(f"Host: {self._host_header}\r\n")
        chunked = False
        if isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif body is None:
            if method not in _NO_BODY_METHODS or length is not None:
                lines.append("Content-Length: 0\r\n")
        elif length is not None and _DIGITS.fullmatch(length):
            lines.append(f"Content-Length: {length}\r\n")  # the body step measured it
        else:
            lines.append("Transfer-Encoding: chunked\r\n")
            chunked = True
        lines.append("\r\n")
        return "".join(lines).encode("latin-1"), chunked

    async def _open(
        self,
        method: str,
        target: Target,
        headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None,
    ) -> LeanAnswer:
        head, chunked = self._head(method, target, headers, body)
        # the common case inline (a free slot, an idle connection): no coroutine for each step
        if self._limit and self._in_use >= self._limit:
            await self._take_slot()
        else:
            self._in_use += 1
        try:
            connection = take_idle(self._idle)
            reused = connection is not None
            if connection is None:
                connection = await self._connect()
            try:
                return await self._exchange(connection, method, head, body, chunked)
            except _Stale:
                replayable = body is None or isinstance(body, bytes)
                if not reused or not replayable or method not in IDEMPOTENT_METHODS:
                    raise aiohttp.ServerDisconnectedError() from None
            # the server had closed the idle connection: once more, on a fresh one
            connection = await self._connect()
            try:
                return await self._exchange(connection, method, head, body, chunked)
            except _Stale:
                raise aiohttp.ServerDisconnectedError() from None
        except BaseException:
            self._free_slot()
            raise

    async def _exchange(
        self,
        connection: _Connection,
        method: str,
        head: bytes,
        body: bytes | AsyncIterable[bytes] | None,
        chunked: bool,
    ) -> LeanAnswer:
        """Write the request, read the answer's head; the connection is closed on failure."""
        reader, writer = connection.reader, connection.writer
        sending: asyncio.Task[None] | None = None
        try:
            reader.awaiting = True
            if body is None or isinstance(body, bytes):
                writer.write(head + body if body else head)
            else:
                writer.write(head)
                # streamed while the head is awaited: an early answer (a 413) is still heard
                sending = asyncio.get_running_loop().create_task(_send_body(writer, body, chunked))
            status, reason, pairs, http11 = await self._read_head(reader, sending)
            # the framing is checked here: a bad Content-Length closes the connection too
            return LeanAnswer(self, connection, method, status, reason, pairs, http11, sending)
        except BaseException:
            if sending is not None:
                _stop(sending)
            connection.close()
            raise

    async def _read_head(
        self, reader: _Reader, sending: asyncio.Task[None] | None
    ) -> tuple[int, str, list[tuple[str, str]], bool]:
        loop = reader.loop
        first = True
        while True:
            # a timer handle, not asyncio.timeout: half the cost, on every answer
            timer = loop.call_at(loop.time() + self.settings.timeout, _expire, reader)
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except _ReadTimeout:
                raise aiohttp.SocketTimeoutError("no answer within the read timeout") from None
            except asyncio.IncompleteReadError as exc:
                if sending is not None and sending.done() and sending.exception() is not None:
                    raise aiohttp.ClientOSError(
                        f"sending the request body failed: {sending.exception()}"
                    ) from None
                if first and not exc.partial:
                    raise _Stale from None
                raise aiohttp.ServerDisconnectedError() from None
            except asyncio.LimitOverrunError:
                raise UpstreamProtocolError(
                    f"the answer's headers exceed {MAX_HEAD} bytes"
                ) from None
            except OSError as exc:
                if first:
                    raise _Stale from None
                raise aiohttp.ClientOSError(exc.errno, exc.strerror or str(exc)) from None
            finally:
                timer.cancel()
            first = False
            status, reason, pairs, version = parse_head(raw)
            if 100 <= status < 200 and status != 101:
                continue  # interim: the final answer is still owed, its wait timed afresh
            if not valid_status(status, upgrade_asked=False):
                raise UpstreamProtocolError(f"invalid status {status} from the upstream")
            return status, reason, pairs, version == "HTTP/1.1"

    # the pool -----------------------------------------------------------------------------

    async def _take_slot(self) -> None:
        if self._limit and self._in_use >= self._limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # a slot was handed over: _in_use already counts it
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._free_slot()  # handed over as we were cancelled: pass it on
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
            return
        self._in_use += 1

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the next in line
                return
        self._in_use -= 1

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.settings.connect_timeout):
                return await open_connection(self._host, self._port, self._ssl, MAX_HEAD)
        except TimeoutError:
            raise aiohttp.ConnectionTimeoutError(
                f"Connection timeout to host {self.base.origin()}"
            ) from None
        except OSError as exc:
            raise aiohttp.ClientConnectorError(self._key, exc) from None

    def _finished(self, connection: _Connection, reusable: bool) -> None:
        """An answer is done with its connection: pooled if clean, else closed; slot freed."""
        if (
            reusable
            and not self._closed
            and not connection.reader.stray
            and not connection.reader.unread()  # bytes beyond the answer's framing (U1)
        ):
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        self._free_slot()


async def _send_body(
    writer: asyncio.StreamWriter, body: AsyncIterable[bytes], chunked: bool
) -> None:
    async for chunk in body:
        if not chunk:
            continue
        if chunked:
            writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        else:
            writer.write(chunk)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
    await writer.drain()


def _stop(sending: asyncio.Task[None]) -> bool:
    """Whether the body was sent whole; if not, its sending stops (its error is consumed:
    what the caller hears about is the answer, or why there was none)."""
    if not sending.done():
        sending.cancel()
        return False
    return not sending.cancelled() and sending.exception() is None


class _Send:
    """``async with client.send(...) as answer``: the answer's connection goes back to the pool
    at the end if it was read whole, else it is closed."""

    __slots__ = ("_answer", "_args", "_client")

    def __init__(
        self,
        client: LeanUpstream,
        method: str,
        target: Target,
        headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None,
    ) -> None:
        self._client = client
        self._args = (method, target, headers, body)
        self._answer: LeanAnswer | None = None

    async def __aenter__(self) -> LeanAnswer:
        self._answer = await self._client._open(*self._args)
        return self._answer

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._answer is not None:
            self._answer.release()


class LeanAnswer:
    """An upstream's answer, its head read: the port's ``Answer`` (``facade.upstream``)."""

    __slots__ = (
        "_body",
        "_chunk_left",
        "_client",
        "_connection",
        "_done",
        "_keep",
        "_mode",
        "_read",
        "_remaining",
        "_sending",
        "content_length",
        "headers",
        "reason",
        "status",
    )

    def __init__(
        self,
        client: LeanUpstream,
        connection: _Connection,
        method: str,
        status: int,
        reason: str,
        pairs: list[tuple[str, str]],
        http11: bool,
        sending: asyncio.Task[None] | None,
    ) -> None:
        self.status = status
        self.reason: str | None = reason
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict(pairs))
        self.content_length: int | None = None
        self._client = client
        self._connection: _Connection | None = connection
        self._keep = keeps_alive("HTTP/1.1" if http11 else "HTTP/1.0", self.headers)
        self._sending = sending
        self._read: bytes | None = None
        self._remaining = 0
        self._chunk_left = 0
        self._done = False
        self._mode = _framing(method, status, self.headers)
        if self._mode == "length":
            self._remaining = self.content_length = _content_length(self.headers)
        if self._mode == "close" or (self._mode == "chunked" and "Content-Length" in self.headers):
            # read until close; or both framings given, a smuggling shape: never reused
            self._keep = False
        if self._mode == "none" or (self._mode == "length" and not self._remaining):
            self._end()

    @property
    def content(self) -> LeanAnswer:
        return self  # ``readany`` and ``read(n)`` below: the part of a stream the stages use

    async def readany(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        return await self._next(READ_SIZE)

    async def _next(self, most: int) -> bytes:
        if self._done:
            return b""
        connection = self._connection
        if connection is None:
            raise aiohttp.ClientConnectionError("the answer was closed")
        reader = connection.reader
        timer: asyncio.TimerHandle | None = None
        if self._mode == "chunked" or not reader.unread():
            # bytes already here are read without waiting: no timer for them
            loop = reader.loop  # not asyncio.get_running_loop(): a getpid() each on 3.11
            timer = loop.call_at(loop.time() + self._client.settings.timeout, _expire, reader)
        try:
            if self._mode == "length":
                data = await reader.read(min(self._remaining, most))
                if not data:
                    raise aiohttp.ClientPayloadError("the upstream closed the connection mid-body")
                self._remaining -= len(data)
                if not self._remaining:
                    self._end()
                return data
            if self._mode == "chunked":
                return await self._read_chunk(reader, most)
            data = await reader.read(most)  # until the upstream closes
            if not data:
                self._end()
            return data
        except _ReadTimeout:
            self._drop()
            raise aiohttp.SocketTimeoutError("Timeout on reading data from socket") from None
        except aiohttp.ClientError:
            self._drop()
            raise
        except OSError as exc:
            self._drop()
            raise aiohttp.ClientPayloadError(f"connection broken mid-body ({exc})") from None
        except BaseException:
            self._drop()  # cancelled mid-read: the connection is half-read, never reused
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def _read_chunk(self, reader: _Reader, most: int) -> bytes:
        while not self._chunk_left:
            size = _chunk_size(await _line(reader, "a chunked body"))
            if not size:
                while await _line(reader, "a chunked body's trailers") != b"\r\n":
                    pass
                self._end()
                return b""
            self._chunk_left = size
        data = await reader.read(min(self._chunk_left, most))
        if not data:
            raise aiohttp.ClientPayloadError("the upstream broke off a chunked body")
        self._chunk_left -= len(data)
        if not self._chunk_left:
            try:
                end = await reader.readexactly(2)
            except asyncio.IncompleteReadError:
                raise aiohttp.ClientPayloadError("the upstream broke off a chunked body") from None
            if end != b"\r\n":
                raise aiohttp.ClientPayloadError("a chunk does not end with CRLF")
        return data

    async def read(self, n: int = -1) -> bytes:
        """``answer.read()``: the whole body, kept (a second call returns it again);
        ``answer.content.read(n)``: up to ``n`` bytes of what is left (fewer only at the end)."""
        if n < 0 and self._read is not None:
            return self._read
        parts: list[bytes] = []
        size = 0
        while n < 0 or size < n:
            data = await self._next(READ_SIZE if n < 0 else min(READ_SIZE, n - size))
            if not data:
                break
            parts.append(data)
            size += len(data)
        data = b"".join(parts)
        if n < 0:
            self._read = data
        return data

    def close(self) -> None:
        """Drop the connection (the answer is not read, or not worth its connection)."""
        self._drop()

    def release(self) -> None:
        """The ``async with`` ended: pooled if read whole and clean, else closed."""
        if self._connection is not None:
            if not self._done:
                self._drop()
            else:
                self._hand_back()

    def _end(self) -> None:
        self._done = True
        if self._connection is not None:
            self._connection.reader.awaiting = False

    def _hand_back(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        sending = self._sending
        # the request body not sent whole (the upstream answered early): the upstream may
        # still read what is left as a next request, so the connection goes
        sent = sending is None or _stop(sending)
        self._client._finished(connection, reusable=self._keep and sent)

    def _drop(self) -> None:
        self._done = True
        self._keep = False
        self._hand_back()


def _framing(method: str, status: int, headers: CIMultiDictProxy[str]) -> str:
    """How the body ends: "none", "chunked", "length" or "close" (RFC 9112 section 6.3)."""
    if method == "HEAD" or status in _BODYLESS_STATUSES:
        return "none"
    codings = headers.getall("Transfer-Encoding", ())
    if codings:
        last = codings[-1].rsplit(",", 1)[-1].strip().lower()
        return "chunked" if last == "chunked" else "close"
    if "Content-Length" in headers:
        return "length"
    return "close"


def _content_length(headers: CIMultiDictProxy[str]) -> int:
    values = {v.strip() for v in headers.getall("Content-Length")}
    if len(values) > 1:
        raise UpstreamProtocolError(f"conflicting Content-Length values: {sorted(values)}")
    (text,) = values
    if not _DIGITS.fullmatch(text):
        raise UpstreamProtocolError(f"bad Content-Length: {text[:20]!r}")
    return int(text)


async def _line(reader: _Reader, what: str) -> bytes:
    try:
        return await reader.readuntil(b"\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise aiohttp.ClientPayloadError(f"the upstream broke off {what}") from None


def _chunk_size(line: bytes) -> int:
    text = line[:-2].split(b";", 1)[0].strip(b" \t")
    if not _HEX.fullmatch(text) or len(text) > 16:
        raise aiohttp.ClientPayloadError(f"bad chunk size: {text[:20]!r}")
    return int(text, 16)


def parse_head(raw: bytes) -> tuple[int, str, list[tuple[str, str]], str]:
    """Status, reason, header pairs and version of one answer's head (ending in CRLF CRLF).

    One regular expression per line, on the head decoded once: this runs for every answer.
    """
    text = raw.decode("latin-1")
    match = _STATUS_LINE.match(text)
    if match is None or match.end() > MAX_LINE_SIZE + 2:
        status_line = text.partition("\r\n")[0]
        if len(status_line) > MAX_LINE_SIZE:
            raise UpstreamProtocolError("the answer's status line is too long")
        raise UpstreamProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    pairs: list[tuple[str, str]] = []
    pos, end = match.end(), len(text) - 2  # the head's final CRLF ends no header line
    header = _HEADER_LINE.match
    while pos < end:
        line = header(text, pos)
        if line is None or line.end() - pos > MAX_FIELD_SIZE + 2:
            raise UpstreamProtocolError(_why_not(text[pos : text.find("\r\n", pos)]))
        pairs.append(line.groups())  # type: ignore[arg-type]  # two groups, both always set
        pos = line.end()
    version = "HTTP/1.1" if match.group(1) == "1" else "HTTP/1.0"
    return int(match.group(2)), match.group(3) or "", pairs, version


def _why_not(line: str) -> str:
    """Why a header line was refused, in a few words."""
    if len(line) > MAX_FIELD_SIZE:
        return f"a header line is over {MAX_FIELD_SIZE} bytes"
    if line[:1] in (" ", "\t"):
        return "the answer folds a header line (obsolete, refused)"
    name, colon, _ = line.partition(":")
    if colon and _TOKEN.fullmatch(name):
        return f"header {name!r} holds a control byte"
    return f"malformed header line: {line[:80]!r}"


def keeps_alive(version: str, headers: CIMultiDictProxy[str]) -> bool:
    """Whether the connection may carry another request after this answer."""
    values = headers.getall("Connection", ())
    tokens = {t.strip().lower() for v in values for t in v.split(",")} if values else set()
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens
