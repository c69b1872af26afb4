"""Request bodies are read whole before any upstream is held (SECURITY.md S1, S3).

A body streamed to the upstream as it arrives holds one pooled upstream connection (and, for a
service, a bulkhead slot and the attempt's timeout) for as long as the client takes to send it:
260 clients sending 1 byte/s blocked every request bound for the monolith. So, as nginx's
``proxy_request_buffering`` does, the facade reads the body first:

- in memory up to ``limits.body_buffer`` (nginx's ``client_body_buffer_size``), else into a
  nameless temporary file (``TMPDIR``), so memory stays bounded whatever the body's framing;
- with ``limits.body_idle_timeout`` between two reads (nginx's ``client_body_timeout``) and
  ``limits.body_deadline`` for the whole body: a client that stalls is answered 408;
- counting the bytes against the body limit itself (413), chunked bodies included;
- within a process-wide budget of spooled bytes (``limits.body_spool_max``, ``Spool``): past
  it, or when the temporary file cannot be opened (EMFILE) or written (ENOSPC), the request is
  answered 503 with ``Retry-After`` (``SpoolUnavailable``), the failure logged at most once
  per ``LOG_INTERVAL``.

A spooled file is closed (and so deleted: it never had a name on disk) when the request ends,
when the client goes away mid-body, and when the handler is cancelled. The body can then be
sent as often as needed: retries and fallback to the monolith replay it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from facade.errors import BodyTimeout, BodyTooLarge, SpoolUnavailable
from facade.throttle import LogThrottle

log = logging.getLogger("strangler.body_spool")

CHUNK = 64 * 1024  # a spooled body is sent upstream in pieces of this size


class BodyReader(Protocol):
    """What ``read_body`` needs of aiohttp's ``StreamReader``: ``b""`` at the end."""

    async def readany(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How a request body is read: ``routes.yaml``'s ``limits`` (and the route's ``max_body``)."""

    max_body: int  # bytes; over it: 413
    buffer: int  # bytes kept in memory; beyond, the body goes to a temporary file
    idle_timeout: float  # seconds without a byte: 408
    deadline: float  # seconds for the whole body: 408
    spool_max: int = 1 << 30  # bytes in temporary files, all requests of the process: 503


class Spool:
    """The process's temporary files for bodies: bytes in use against a budget, failures
    logged at most once per interval. One per facade process (``FacadeState.spool``)."""

    def __init__(self, throttle: LogThrottle | None = None) -> None:
        self.in_use = 0
        self._throttle = throttle or LogThrottle()

    def reserve(self, size: int, budget: int) -> None:
        """Count ``size`` more spooled bytes, or raise ``SpoolUnavailable`` past ``budget``."""
        if self.in_use + size > budget:
            self._refuse(f"the {budget}-byte spool budget (limits.body_spool_max) is in use")
        self.in_use += size

    def release(self, size: int) -> None:
        self.in_use -= size

    def failed(self, exc: OSError) -> SpoolUnavailable:
        name = errno.errorcode.get(exc.errno or 0, "OSError")
        return self._refusal(f"a temporary file failed: {exc.strerror or exc} ({name})")

    def _refuse(self, why: str) -> None:
        raise self._refusal(why)

    def _refusal(self, why: str) -> SpoolUnavailable:
        count = self._throttle.due()
        if count is not None:
            log.error(
                "request bodies cannot be spooled: %s; %d refused since the last such line",
                why,
                count,
            )
        return SpoolUnavailable(f"the facade cannot hold the request body now ({why}); retry")


class SpooledBody:
    """A body that outgrew the memory buffer: a temporary file without a name, ``size`` bytes.

    ``chunks()`` may be called once per attempt: each call reads the file from the start on its
    own offset (``os.pread``), so a retry or a fallback sends the same bytes again.
    """

    def __init__(self, file: BinaryIO, size: int, spool: Spool | None = None) -> None:
        self._file = file
        self.size = size
        self._spool = spool  # its bytes are counted there until closed

    async def chunks(self) -> AsyncIterator[bytes]:
        offset = 0
        while offset < self.size:
            # the client library may still be sending when the request ends (an early answer):
            # once closed, the descriptor's number may already name another request's file,
            # so it is looked up again before every read (no await in between)
            if self._file.closed:
                raise OSError("the request ended: its spooled body is gone")
            # page-cache reads of a few tens of KB: cheaper inline than a thread hop
            chunk = os.pread(self._file.fileno(), min(CHUNK, self.size - offset), offset)
            if not chunk:
                raise OSError(f"the spooled body ended at {offset} of {self.size} bytes")
            offset += len(chunk)
            yield chunk

    async def read_all(self) -> bytes:
        """The whole body, for a translator or a shadow comparison (both bounded by a limit)."""
        return b"".join([chunk async for chunk in self.chunks()])

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        """Free the disk space now (idempotent)."""
        if not self._file.closed and self._spool is not None:
            self._spool.release(self.size)
        self._file.close()


Body = bytes | SpooledBody


async def read_body(
    content: BodyReader,
    limits: BodyLimits,
    *,
    spool: Spool | None = None,
    what: str = "request body",
) -> Body:
    """Read a whole body from ``content`` within ``limits``.

    Raises ``BodyTooLarge`` (413) past ``max_body``, ``BodyTimeout`` (408) when a read waits
    longer than ``idle_timeout`` or the body takes longer than ``deadline``,
    ``SpoolUnavailable`` (503) past ``spool``'s budget or when the temporary file fails; a
    client that goes away raises what the reader raises (``ConnectionResetError``). A
    temporary file opened here is closed (and its bytes released) on every one of those ways
    out.
    """
    spool = spool or Spool()
    loop = asyncio.get_running_loop()
    end = loop.time() + limits.deadline
    parts: list[bytes] = []
    size = 0
    held = 0  # bytes reserved in the spool: released with the file
    file: BinaryIO | None = None
    try:
        while True:
            chunk = await _next_read(content, loop=loop, end=end, limits=limits, what=what)
            if not chunk:
                break
            size += len(chunk)
            if size > limits.max_body:
                raise BodyTooLarge(f"the {what} is over the {limits.max_body}-byte limit")
            if file is not None:
                spool.reserve(len(chunk), limits.spool_max)
                held += len(chunk)
                _write_all(file, chunk, spool)
            elif size > limits.buffer:
                spool.reserve(size, limits.spool_max)
                held = size
                try:
                    file = tempfile.TemporaryFile(prefix="strangler-body-", buffering=0)  # noqa: SIM115 - closed below or by SpooledBody
                except OSError as exc:
                    raise spool.failed(exc) from exc
                # unbuffered: what was read is in the file, not in a buffer of ours
                for part in (*parts, chunk):
                    _write_all(file, part, spool)
                parts.clear()
            else:
                parts.append(chunk)
        if file is None:
            return b"".join(parts)
        return SpooledBody(file, size, spool)
    except BaseException:
        if file is not None:
            file.close()
        spool.release(held)
        raise


def _write_all(file: BinaryIO, data: bytes, spool: Spool) -> None:
    """Write to the page cache inline: a few tens of KB, cheaper than a thread hop."""
    view = memoryview(data)
    try:
        while view:
            written = file.write(view)
            view = view[written or 0 :]
    except OSError as exc:
        raise spool.failed(exc) from exc


async def _next_read(
    content: BodyReader,
    *,
    loop: asyncio.AbstractEventLoop,
    end: float,
    limits: BodyLimits,
    what: str,
) -> bytes:
    left = end - loop.time()
    if left <= 0:
        raise BodyTimeout(f"the {what} was not complete within {limits.deadline:g}s")
    idle = limits.idle_timeout <= left
    try:
        async with asyncio.timeout(limits.idle_timeout if idle else left):
            return await content.readany()
    except TimeoutError:
        if idle:
            raise BodyTimeout(f"no byte of the {what} for {limits.idle_timeout:g}s") from None
        raise BodyTimeout(f"the {what} was not complete within {limits.deadline:g}s") from None
