"""A stand-in upstream that breaks HTTP/1.1 on purpose, written on raw sockets (SECURITY.md U1-U4).

Run as ``python -m tests.support.stray_upstream --port P``. The last two path segments say
what to do and for whom (``/anything/KIND/USER``); every answer names ``USER`` in its body and
in ``X-Answer-For``, so a client can tell its own answer from someone else's:

- ``idle``: answers, then writes a second, unasked-for response on the idle connection;
- ``overlong``: answers with a ``Content-Length`` shorter than what it sends: the first
  segment ends with the start of a second response, a later segment carries its rest;
- ``after204``, ``after304``: answers ``204 No Content`` (``304 Not Modified``), then writes a
  response as its "body";
- ``head``: answers a HEAD, then writes the head of another response as its "body" (a body
  in full would make aiohttp's parser fail and close the connection, by luck);
- ``status``: answers with status ``USER`` (``/status/099``, ``/status/600``, ``/status/101``);
- ``continue``: answers ``100 Continue``, then says nothing more;
- ``cookie``: answers with a 12 KB ``Set-Cookie``;
- anything else: a plain answer.

With ``--clean`` it answers every kind plainly: the well-behaved side of a comparison.

``GET /_strays?above=N`` (on its own connection) answers, once more than N unasked-for
responses were written (at most 10 s later), how many there are: a test waits with it until
the stray bytes are on the wire before the next client asks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

POISON = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 24\r\nX-Answer-For: nobody\r\n\r\nPOISONED-QUEUED-RESPONSE"
)
COOKIE = "session=" + "c" * 12 * 1024 + "; Path=/; HttpOnly"
LATER = 0.02  # seconds between the answer and its stray bytes: a separate TCP segment
# (kind, method) of every answer that writes stray bytes after itself: each client's cases
STRAY_KINDS = [
    ("idle", "GET"),
    ("overlong", "GET"),
    ("after204", "GET"),
    ("after304", "GET"),
    ("head", "HEAD"),
]


class StrayUpstream:
    def __init__(self, *, clean: bool = False) -> None:
        self.clean = clean
        self.strays = 0
        self.connections = 0
        self.hung_up = asyncio.Event()  # a client closed an idle connection
        self.written = asyncio.Condition()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.hung_up.set()
                    return
                method, target = head.split(b" ", 2)[:2]
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                try:
                    await reader.readexactly(length)
                    if not await self.answer(method.decode(), target.decode(), writer):
                        return
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the client hung up (as a facade closing a stray connection does)
        finally:
            writer.close()

    async def answer(self, method: str, target: str, writer: asyncio.StreamWriter) -> bool:
        """Write the answer (and its stray bytes); False to hang up afterwards."""
        path = target.split("?", 1)[0]
        if path == "/_strays":
            await self.wait_for_strays(above=int(target.partition("above=")[2] or -1))
            body = str(self.strays).encode()
            writer.write(_response(200, body, extra=b"Connection: close\r\n"))
            await writer.drain()
            return False
        segments = path.split("/")
        kind, user = (segments[-2], segments[-1]) if len(segments) > 2 else ("", "")
        if self.clean and kind != "status":
            kind = "plain"
        body = f"answer for {user}".encode()
        who = f"X-Answer-For: {user}\r\n".encode()
        if kind == "idle":
            writer.write(_response(200, body, extra=who))
            await self.stray_later(writer, POISON)
        elif kind == "overlong":
            split = POISON.index(b"\r\n") + 2  # the status line of the stray, then the rest
            writer.write(_response(200, body, extra=who) + POISON[:split])
            await self.stray_later(writer, POISON[split:])
        elif kind in ("after204", "after304"):
            writer.write(_response(int(kind[-3:]), b"", extra=who, length=False))
            await self.stray_later(writer, POISON)
        elif kind == "head":
            framing = f"Content-Length: {len(body)}\r\n".encode()  # the GET's, no body
            writer.write(_response(200, b"", extra=who + framing, length=False))
            await self.stray_later(writer, POISON[: POISON.index(b"\r\n\r\n") + 4])
        elif kind == "status":
            code = user.encode()
            writer.write(b"HTTP/1.1 " + code + b" Odd\r\nContent-Length: 2\r\n\r\nhi")
        elif kind == "continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(3600)  # silence, until the client gives up and hangs up
        elif kind == "cookie":
            writer.write(_response(200, body, extra=who + f"Set-Cookie: {COOKIE}\r\n".encode()))
        else:
            writer.write(_response(200, body, extra=who))
        await writer.drain()
        return True

    async def wait_for_strays(self, *, above: int, within: float = 10.0) -> int:
        """How many strays were written, once there are more than ``above`` (or ``within`` seconds
        pass: the caller then sees the count, and its test fails with it)."""
        async with self.written:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await self.written.wait_for(lambda: self.strays > above)
        return self.strays

    async def stray_later(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        await writer.drain()
        await asyncio.sleep(LATER)
        writer.write(data)
        await writer.drain()
        async with self.written:
            self.strays += 1
            self.written.notify_all()


@contextlib.asynccontextmanager
async def serving(stand_in: StrayUpstream) -> AsyncIterator[str]:
    """``stand_in`` listening on a free loopback port, in this loop: its base URL."""
    server = await asyncio.start_server(stand_in.handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def _response(status: int, body: bytes, *, extra: bytes = b"", length: bool = True) -> bytes:
    framing = f"Content-Length: {len(body)}\r\n".encode() if length else b""
    return f"HTTP/1.1 {status} X\r\n".encode() + framing + extra + b"\r\n" + body


async def main(port: int, *, clean: bool) -> None:
    upstream = StrayUpstream(clean=clean)
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clean", action="store_true", help="never write stray bytes")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.port, clean=arguments.clean))
