"""aiohttp's connection pool, made to reuse only connections that are clean (SECURITY.md U1).

A pooled HTTP/1.1 connection carries one answer per request, in order. If an upstream writes
anything the facade did not ask for (a second response on an idle keep-alive connection, a
body longer than its ``Content-Length`` arriving in a later segment, a body after a 204 or
after the answer to a HEAD), aiohttp 3.14 keeps the connection: the response parser of the
last request stays on the protocol, parses the stray bytes into a queued message, and the
next request on that connection reads it as its own answer. Every later answer on that
connection then goes to the next user (issue 12: alice got a poisoned answer, bob got
alice's, carol got bob's). ``ResponseHandler.should_close`` is only asked when a connection
is released, and ``BaseConnector._get`` only asks ``is_connected()`` when it reuses one.

``CleanResponseHandler`` keeps one more fact per connection: whether an answer is awaited
(from ``set_response_params``, which aiohttp calls before each request is written, to the end
of the final answer's body). Bytes that arrive while none is awaited are stray: the
connection is closed at once and never reused. A final answer that leaves an unfinished
message in the parser (stray bytes in the same segment as the end of the body) closes it too.
Before an idle connection is reused, its socket is polled without blocking: bytes (or a FIN)
the event loop has not read yet also mean it is not clean. The same handler restarts the
read timeout after an interim ``1xx`` answer (U3): aiohttp drops the timer when a message
without a body arrives, so a ``100 Continue`` followed by silence waited forever.

``CleanConnector`` is a ``TCPConnector`` whose connections use this handler.
"""

from __future__ import annotations

import asyncio
import functools
import select
from typing import Any, cast

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.http import RawResponseMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader


class CleanResponseHandler(ResponseHandler):
    """A client protocol that closes its connection on any byte no request asked for."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._awaiting = False  # a request was (or is being) written; its final answer is unread
        self._interim = False  # the last message parsed was an interim 1xx answer
        self.stray = False  # bytes arrived that no request asked for: never reuse

    # aiohttp calls this before writing each request on the connection
    def set_response_params(self, **kwargs: Any) -> None:
        self._awaiting = True
        super().set_response_params(**kwargs)

    def data_received(self, data: bytes) -> None:
        if self._upgraded or self._payload_parser is not None:
            super().data_received(data)  # a websocket: not HTTP messages any more
            return
        if not self._awaiting:
            if data:
                self._close_stray()
            return
        self._interim = False
        super().data_received(data)
        if self._interim:
            # aiohttp dropped the read timer for the body-less 1xx; the final answer is still
            # owed, so the wait for it is measured again (U3)
            self._reschedule_timeout()
        if not self._awaiting and not self.stray and _unfinished(self._parser):
            self._close_stray()  # the segment that ended the answer held the start of another

    def feed_data(self, data: tuple[RawResponseMessage, StreamReader], size: int = 0) -> None:
        """A parsed message: an interim 1xx, the final answer, or stray (none awaited)."""
        message, payload = data
        if not self._awaiting:
            self._close_stray()
            return  # never queued: no later request can read it
        code = message.code
        self._interim = 100 <= code < 200 and code != 101
        if not self._interim:
            if payload is EMPTY_PAYLOAD or payload.is_eof():
                self._answered()
            else:
                payload.on_eof(self._answered)
        super().feed_data(data, size)

    @property
    def should_close(self) -> bool:
        return self.stray or super().should_close

    def is_connected(self) -> bool:
        """Connected, and, while idle, nothing unread on the socket (``_get`` asks this before
        it reuses a pooled connection)."""
        if not super().is_connected():
            return False
        if not self._awaiting and socket_has_unread(self.transport):
            self._close_stray()
            return False
        return True

    def _answered(self) -> None:
        self._awaiting = False

    def _close_stray(self) -> None:
        self.stray = True
        self._should_close = True
        if self.transport is not None:
            self.transport.close()


def _unfinished(parser: Any) -> bool:
    """Whether the parser holds part of a message: ``feed_eof`` returns the unfinished one (as
    aiohttp's ``connection_lost`` uses it), None when it is between messages."""
    if parser is None:
        return False
    try:
        return parser.feed_eof() is not None
    except Exception:
        return True  # it could not even finish it: stray bytes all the same


def socket_has_unread(transport: asyncio.BaseTransport | None) -> bool:
    """Bytes or a FIN waiting on a plain TCP socket (one poll, no wait).

    TLS is left out: a TLS 1.3 server sends session tickets after the handshake, which the
    TLS layer reads without ever passing them on; ``data_received`` still catches stray bytes.
    """
    poller = unread_poller(transport)
    return poller is not None and bool(poller.poll(0))


def unread_poller(transport: asyncio.BaseTransport | None) -> select.poll | None:
    """A poll object on the transport's socket for ``socket_has_unread``'s check, made once per
    connection by a caller that checks often (the lean pool: each reuse), or None where the
    check does not apply (TLS, no socket). ``poll(0)`` on it is then the one syscall."""
    if transport is None or transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    poller = select.poll()  # one syscall (select.select is slower and limited to FD_SETSIZE)
    poller.register(sock.fileno(), select.POLLIN)
    return poller


class CleanConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` whose connections are reused only while clean (see the module)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # aiohttp builds each connection's protocol with this factory (no public hook for it)
        self._factory = cast(
            "functools.partial[ResponseHandler]",
            functools.partial(CleanResponseHandler, loop=self._loop),
        )
