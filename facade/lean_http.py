"""A lean HTTP/1.1 client for shadow calls: a keep-alive pool and one write per request.

Shadow mode makes a second upstream call for every request it shadows, so that call's cost
decides how much throughput shadowing keeps. aiohttp's client costs about 2.6 times what this
one does per call (measured against the same nginx, 32 concurrent callers), for features a
shadow call never uses: its body is already in memory, its answer is read whole up to a cap and
streamed nowhere, and redirects, cookies and decompression never apply. This serves
``facade.shadow``; client-facing calls go through ``facade.lean_upstream``, the same design
with the answer streamed back.

What it does implement, after RFC 9112: ``Content-Length``, ``chunked`` and read-until-close
bodies (section 6.3, in that order of precedence, with conflicting lengths refused); no body
for HEAD, 1xx, 204 and 304; interim 1xx answers skipped; a connection reused only when its
answer was read to the end and neither side asked to close it; a reused connection that the
server had closed while idle is retried once on a fresh one, for idempotent methods only, and
only if no byte of an answer came back. Every failure closes its connection, and so does a
cancellation (the caller's timeout), so no half-read connection returns to the pool.

A connection is reused only while clean (SECURITY.md U1): bytes that arrive while no answer is
awaited (a second response on an idle connection, a body longer than its ``Content-Length``
in a later segment, a body after a 204 or a HEAD answer), or that are left unread once an
answer ends, close it; so do bytes or a FIN still on the socket when it is taken from the
pool. An answer is only ever read for the request just written on its connection. A status
under 100 or over 599 is an error (U2), never an answer to compare.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import SupportsIndex

from yarl import URL

from facade.clean_connections import unread_poller
from parallel_run.methods import IDEMPOTENT_METHODS

_BODYLESS_STATUSES = frozenset({204, 304})
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
MAX_HEAD = 64 * 1024  # status line and headers of one answer
IDLE_FOR = 15.0  # seconds an idle connection is kept (servers commonly close after 60-75 s)


class LeanHttpError(Exception):
    """No answer could be read (connect failure, reset, malformed answer): the message says
    why, in a few words. The only error ``request`` raises, besides a cancellation."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class _Reader(asyncio.StreamReader):
    """A stream reader that knows which bytes a request asked for (asyncio's docs invite
    copying ``open_connection`` to use one's own reader)."""

    def __init__(self, *, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        # for the answer's read timer: asyncio.get_running_loop() costs a getpid() system
        # call on Python 3.11, once per request
        self.loop = loop
        self.awaiting = False  # a request was written and its answer is not read to its end
        self.stray = False  # bytes came that no request asked for: never reuse

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        if data and not self.awaiting:
            self.stray = True
        super().feed_data(data)

    def unread(self) -> int:
        """Bytes received and not consumed (left over once an answer ends: stray ones)."""
        return len(self._buffer)  # type: ignore[attr-defined]  # no public accessor; stable


class _Connection:
    __slots__ = ("_poller", "idle_since", "reader", "writer")

    def __init__(self, reader: _Reader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        # registered once: each reuse then costs the poll alone, not two get_extra_info
        # lookups and a new poll object (the socket is this connection's for its whole life)
        self._poller = unread_poller(writer.transport)

    def usable(self, now: float) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and not self.reader.stray
            and now - self.idle_since < IDLE_FOR
            # bytes or a FIN the event loop has not read yet: not clean either (SECURITY.md U1)
            and not (self._poller is not None and self._poller.poll(0))
        )

    def close(self) -> None:
        self.writer.close()


def take_idle(idle: deque[_Connection]) -> _Connection | None:
    """The most recently used idle connection still clean, closing the ones that are not."""
    now = time.monotonic()
    while idle:
        connection = idle.pop()  # the most recently used is the likeliest alive
        if connection.usable(now):
            return connection
        connection.close()
    return None


async def open_connection(
    host: str, port: int, context: ssl.SSLContext | None, max_head: int
) -> _Connection:
    """A new connection (the caller bounds the time; OSError and TimeoutError as raised)."""
    loop = asyncio.get_running_loop()
    reader = _Reader(limit=max_head, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(
        lambda: protocol, host, port, ssl=context, server_hostname=host if context else None
    )
    return _Connection(reader, asyncio.StreamWriter(transport, protocol, reader, loop))


class LeanPool:
    """Keep-alive connections to one upstream (``http`` or ``https``), at most ``max_idle``
    kept idle; the caller bounds how many calls run at once."""

    def __init__(self, base: URL, *, connect_timeout: float, max_idle: int) -> None:
        if base.scheme not in ("http", "https") or not base.raw_host:
            raise ValueError(f"expected an http(s) URL, got {base}")
        self._host = base.raw_host
        self._port = base.port or (443 if base.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if base.scheme == "https" else None
        self._prefix = base.raw_path.rstrip("/")
        default_port = base.port == (443 if base.scheme == "https" else 80)
        self._host_header = self._host if default_port else f"{self._host}:{self._port}"
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle
        self._idle: deque[_Connection] = deque()
        self._closed = False  # a call still running when closed hangs up when it ends

    async def request(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
        *,
        max_body: int,
    ) -> Answer:
        """Send one request; the answer's body is cut at ``max_body`` bytes."""
        head = self._head(method, self._prefix + target, headers, body)
        payload = head + body if body else head
        connection, reused = await self._acquire()
        try:
            return await self._exchange(connection, method, payload, max_body)
        except _StaleConnection:
            if not reused or method not in IDEMPOTENT_METHODS:
                raise LeanHttpError(
                    "the upstream closed the connection without answering"
                ) from None
        # the server had closed the idle connection: once more, on a fresh one
        connection = await self._connect()
        try:
            return await self._exchange(connection, method, payload, max_body)
        except _StaleConnection:
            raise LeanHttpError("the upstream closed the connection without answering") from None

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.popleft().close()

    # internals -----------------------------------------------------------------------------

    def _head(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None
    ) -> bytes:
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        has_host = False
        for name, value in headers:
            lower = name.lower()
            if lower in _FRAMING:
                continue  # this client frames the message itself
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise LeanHttpError(f"header {name!r} holds a line break")
            has_host = has_host or lower == "host"
            lines.append(f"{name}: {value}\r\n")
        if not has_host:
            lines.append(f"Host: {self._host_header}\r\n")
        if body:
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: 0\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    async def _acquire(self) -> tuple[_Connection, bool]:
        connection = take_idle(self._idle)
        if connection is not None:
            return connection, True
        return await self._connect(), False

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await open_connection(self._host, self._port, self._ssl, MAX_HEAD)
        except TimeoutError:
            raise LeanHttpError("cannot connect (timed out)") from None
        except OSError as exc:
            raise LeanHttpError(f"cannot connect ({exc.strerror or exc})") from None

    async def _exchange(
        self, connection: _Connection, method: str, payload: bytes, max_body: int
    ) -> Answer:
        keep = False
        reader = connection.reader
        try:
            reader.awaiting = True
            connection.writer.write(payload)
            status, headers, version = await _read_head(reader)
            body, complete = await _read_body(reader, method, status, headers, max_body)
            reader.awaiting = False
            # bytes beyond the answer's framing, already here: the connection is not clean
            keep = complete and _keeps_alive(version, headers) and not reader.unread()
            return Answer(status, headers, body)
        except OSError as exc:  # a reset mid-answer: one error type for callers, as for connect
            raise LeanHttpError(f"connection failed ({exc.strerror or exc})") from None
        finally:
            if keep and not self._closed and len(self._idle) < self._max_idle:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()


class _StaleConnection(Exception):
    """The connection ended before any byte of an answer: safe to retry elsewhere."""


async def _read_head(
    reader: asyncio.StreamReader,
) -> tuple[int, tuple[tuple[str, str], ...], str]:
    first = True
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if first and not exc.partial:
                raise _StaleConnection from None
            raise LeanHttpError("the upstream closed the connection mid-answer") from None
        except asyncio.LimitOverrunError:
            raise LeanHttpError(f"the answer's headers exceed {MAX_HEAD} bytes") from None
        except ConnectionError:
            if first:
                raise _StaleConnection from None
            raise
        first = False
        status, headers, version = _parse_head(raw)
        if status < 100 or status > 599:
            raise LeanHttpError(f"invalid status {status} from the upstream")
        if status == 101:
            raise LeanHttpError("the upstream switched protocols")
        if status >= 200:
            return status, headers, version


def _parse_head(raw: bytes) -> tuple[int, tuple[tuple[str, str], ...], str]:
    text = raw.decode("latin-1")
    status_line, _, rest = text.partition("\r\n")
    version, _, remainder = status_line.partition(" ")
    code = remainder[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or not code.isdigit() or len(code) != 3:
        raise LeanHttpError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers = []
    for line in rest.split("\r\n"):
        if not line:
            continue
        if line[0] in " \t":
            raise LeanHttpError("the answer folds a header line (obsolete, refused)")
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise LeanHttpError(f"malformed header line: {line[:80]!r}")
        headers.append((name, value.strip(" \t")))
    return int(code), tuple(headers), version


def _values(headers: tuple[tuple[str, str], ...], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name]


async def _read_body(
    reader: asyncio.StreamReader,
    method: str,
    status: int,
    headers: tuple[tuple[str, str], ...],
    max_body: int,
) -> tuple[bytes, bool]:
    """The body (cut at ``max_body``), and whether it was read to its end."""
    if method == "HEAD" or status in _BODYLESS_STATUSES:
        return b"", True
    codings = [
        c.strip().lower() for v in _values(headers, "transfer-encoding") for c in v.split(",")
    ]
    if codings:
        if codings[-1] != "chunked":
            return await _read_to_close(reader, max_body), False
        return await _read_chunked(reader, max_body)
    lengths = {v.strip() for v in _values(headers, "content-length")}
    if len(lengths) > 1:
        raise LeanHttpError(f"conflicting Content-Length values: {sorted(lengths)}")
    if lengths:
        (length_text,) = lengths
        if not length_text.isdigit():
            raise LeanHttpError(f"bad Content-Length: {length_text[:20]!r}")
        length = int(length_text)
        if length > max_body:
            return await _read_exactly(reader, max_body), False
        return await _read_exactly(reader, length), True
    return await _read_to_close(reader, max_body), False


async def _read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise LeanHttpError("the upstream closed the connection mid-body") from None


async def _read_to_close(reader: asyncio.StreamReader, max_body: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= max_body:
        chunk = await reader.read(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:max_body]


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise LeanHttpError("the upstream broke off a chunked body") from None
        size_text = line.split(b";", 1)[0].strip()
        try:
            chunk_size = int(size_text, 16)
        except ValueError:
            raise LeanHttpError(f"bad chunk size: {size_text[:20]!r}") from None
        if chunk_size == 0:
            break
        if size + chunk_size > max_body:
            chunks.append(await _read_exactly(reader, max_body - size))
            return b"".join(chunks), False  # the rest is not read: the connection is closed
        chunks.append(await _read_exactly(reader, chunk_size))
        size += chunk_size
        if await _read_exactly(reader, 2) != b"\r\n":
            raise LeanHttpError("a chunk does not end with CRLF")
    while True:  # trailers, up to the empty line
        try:
            trailer = await reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise LeanHttpError("the upstream broke off a chunked body's trailers") from None
        if trailer == b"\r\n":
            return b"".join(chunks), True


def _keeps_alive(version: str, headers: tuple[tuple[str, str], ...]) -> bool:
    tokens = {t.strip().lower() for v in _values(headers, "connection") for t in v.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens
