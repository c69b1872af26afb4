"""The lean shadow-call client against a scripted server on a real socket."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from yarl import URL

from facade.lean_http import LeanHttpError, LeanPool
from tests.support.stray_upstream import STRAY_KINDS, StrayUpstream, serving

Script = Callable[[bytes, bytes], bytes | None]  # (request head, body) -> raw answer; None: hang up


@dataclass
class Server:
    script: Script
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                answer = self.script(head, body)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    return
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], asyncio.Future[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> Server:
        state = Server(script)
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        state.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return state

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()
        await server.wait_closed()


def pool(server: Server, **options: float) -> LeanPool:
    return LeanPool(
        URL(f"http://127.0.0.1:{server.port}"),
        connect_timeout=float(options.get("connect_timeout", 1.0)),
        max_idle=int(options.get("max_idle", 8)),
    )


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> Script:
    return lambda head, _: (
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s"
        % (
            len(body),
            extra,
            body,
        )
    )


async def test_keep_alive_reuses_one_connection(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    server = await serve(ok())
    client = pool(server)
    for _ in range(5):
        answer = await client.request(
            "GET", "/a?b=1", [("Host", "shop.example")], None, max_body=100
        )
        assert (answer.status, answer.body) == (200, b'{"ok":true}')
    assert server.connections == 1
    head = server.requests[0][0]
    assert head.startswith(b"GET /a?b=1 HTTP/1.1\r\n")
    assert b"Host: shop.example\r\n" in head
    client.close()


async def test_the_body_is_framed_by_the_client_not_the_callers_headers(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    server = await serve(ok())
    client = pool(server)
    headers = [("Content-Length", "999"), ("Transfer-Encoding", "chunked"), ("X-A", "1")]
    await client.request("POST", "/p", headers, b"hello", max_body=100)
    head, body = server.requests[0]
    assert body == b"hello"
    assert b"Content-Length: 5\r\n" in head
    assert b"Content-Length: 999" not in head  # not a bare b"999": the port may hold it
    assert b"chunked" not in head.lower()
    assert b"X-A: 1\r\n" in head
    assert f"Host: 127.0.0.1:{server.port}".encode() in head  # none given: the upstream's
    client.close()


async def test_a_chunked_answer_with_trailers_is_read_and_the_connection_kept(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    server = await serve(lambda head, _: answer)
    client = pool(server)
    for _ in range(2):
        got = await client.request("GET", "/", [], None, max_body=100)
        assert got.body == b"Wikipedia"
    assert server.connections == 1
    client.close()


async def test_an_answer_without_length_is_read_to_close_and_not_reused(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    server = await serve(lambda head, _: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
    client = pool(server)
    for _ in range(2):
        assert (await client.request("GET", "/", [], None, max_body=100)).body == b"all of it"
    assert server.connections == 2
    client.close()


async def test_head_204_and_interim_answers_carry_no_body(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    def script(head: bytes, _: bytes) -> bytes:
        if head.startswith(b"HEAD"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"
        return b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"

    server = await serve(script)
    client = pool(server)
    head = await client.request("HEAD", "/", [], None, max_body=100)
    assert (head.status, head.body) == (200, b"")
    empty = await client.request("GET", "/", [], None, max_body=100)
    assert (empty.status, empty.body) == (204, b"")
    assert server.connections == 1
    client.close()


async def test_a_body_over_the_cap_is_cut_and_its_connection_dropped(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    server = await serve(ok(b"x" * 1000))
    client = pool(server)
    for _ in range(2):
        assert (await client.request("GET", "/", [], None, max_body=10)).body == b"x" * 10
    assert server.connections == 2
    client.close()


async def test_a_stale_keep_alive_connection_is_retried_for_get_only(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    calls = 0

    def script(head: bytes, _: bytes) -> bytes | None:
        nonlocal calls
        calls += 1
        # the server answers, then hangs up on the next request of the same connection
        return ok()(head, b"") if calls % 2 else None

    server = await serve(script)
    client = pool(server)
    assert (await client.request("GET", "/", [], None, max_body=100)).status == 200
    # the idle connection is dead: GET goes again on a fresh one and succeeds
    assert (await client.request("GET", "/", [], None, max_body=100)).status == 200
    assert server.connections == 2
    # POST is never sent twice
    with pytest.raises(LeanHttpError, match="closed the connection without answering"):
        await client.request("POST", "/", [], b"x", max_body=100)
    client.close()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", "conflicting"),
        (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n", "folds"),
        (b"SPDY/3 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nshort", "mid-body"),
        (b"HTTP/1.1 101 Switching\r\n\r\n", "switched"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
    ],
)
async def test_malformed_answers_are_errors_never_guesses(
    serve: Callable[..., asyncio.Future[Server]], answer: bytes, message: str
) -> None:
    def script(head: bytes, _: bytes) -> bytes:
        return answer

    server = await serve(script)
    client = pool(server)
    with pytest.raises(LeanHttpError, match=message):
        async with asyncio.timeout(2):
            await client.request("GET", "/", [], None, max_body=100)
    client.close()


async def test_a_header_with_a_line_break_is_refused_before_sending(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    server = await serve(ok())
    client = pool(server)
    with pytest.raises(LeanHttpError, match="line break"):
        await client.request("GET", "/", [("X-A", "1\r\nX-Injected: 1")], None, max_body=100)
    assert server.requests == []
    client.close()


async def test_a_cancelled_call_does_not_return_its_connection_to_the_pool() -> None:
    slow = asyncio.Event()
    # an upstream that never answers in time: it reads the request and stays silent
    silent_requests = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal silent_requests
        await reader.readuntil(b"\r\n\r\n")
        silent_requests += 1
        await slow.wait()
        writer.close()

    quiet = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = quiet.sockets[0].getsockname()[1]
    lazy = LeanPool(URL(f"http://127.0.0.1:{port}"), connect_timeout=1, max_idle=4)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await lazy.request("GET", "/", [], None, max_body=100)
    assert silent_requests == 1
    assert lazy._idle == deque()
    slow.set()
    quiet.close()
    await quiet.wait_closed()
    lazy.close()


async def test_a_refused_connection_is_a_clear_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    client = LeanPool(URL(f"http://127.0.0.1:{port}"), connect_timeout=1, max_idle=1)
    with pytest.raises(LeanHttpError, match="cannot connect"):
        await client.request("GET", "/", [], None, max_body=100)


async def test_a_reset_mid_answer_is_a_lean_http_error_like_any_other_failure() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        # SO_LINGER 0: close with a RST, not a FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = LeanPool(URL(f"http://127.0.0.1:{port}"), connect_timeout=1, max_idle=1)
    try:
        with pytest.raises(LeanHttpError, match=r"connection failed"):
            await client.request("GET", "/", [], None, max_body=1000)
    finally:
        client.close()
        server.close()
        await server.wait_closed()


# -- SECURITY.md U1, U2: a connection is reused only while clean ---------------------------


@pytest.mark.parametrize(("kind", "method"), STRAY_KINDS)
async def test_u1_stray_bytes_close_the_connection_so_each_caller_gets_their_own_answer(
    kind: str, method: str
) -> None:
    upstream = StrayUpstream()
    async with serving(upstream) as base:
        client = LeanPool(URL(base), connect_timeout=1.0, max_idle=8)
        try:
            for user in ("alice", "bob", "carol"):
                before = upstream.strays
                answer = await client.request(method, f"/x/{kind}/{user}", [], None, max_body=1000)
                assert dict(answer.headers)["X-Answer-For"] == user
                assert b"POISONED" not in answer.body
                # the unasked-for bytes are on the wire before the next call takes a connection
                assert await upstream.wait_for_strays(above=before) > before
        finally:
            client.close()


@pytest.mark.parametrize("status", [b"099", b"600", b"000"])
async def test_u2_a_status_outside_100_599_is_an_error(
    serve: Callable[..., asyncio.Future[Server]], status: bytes
) -> None:
    answer = b"HTTP/1.1 " + status + b" Odd\r\nContent-Length: 0\r\n\r\n"
    server = await serve(lambda head, _: answer)
    client = pool(server)
    with pytest.raises(LeanHttpError, match="invalid status"):
        await client.request("GET", "/", [], None, max_body=100)
    client.close()
