"""The served path's lean upstream client against scripted servers on real sockets: framing
both ways, 1xx, bodiless answers, resets, the pool's limit and the stale-connection retry."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from multidict import CIMultiDict

from facade.config.normalize import Target
from facade.lean_upstream import LeanUpstream, parse_head, upstream_factory
from facade.tasks import spawn
from facade.upstream import UpstreamClient, UpstreamProtocolError, UpstreamSettings
from tests.support.stray_upstream import STRAY_KINDS, StrayUpstream, serving

# (request head, body, index of the request on its connection) -> raw answer; None: hang up
Script = Callable[[bytes, bytes, int], bytes | None]


@dataclass
class Server:
    script: Script
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    port: int = 0
    # open server-side connections: a test that ends with a keep-alive connection still idle
    # leaves its handler waiting; the fixture closes them (Python 3.11's Server.wait_closed
    # does not), or the transport is collected unclosed in a later test (a ResourceWarning)
    open_writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_writers.add(writer)
        index = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                body = await _read_body(reader, head)
                self.requests.append((head, body))
                answer = self.script(head, body, index)
                index += 1
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    return
        except ConnectionError:
            return
        finally:
            self.open_writers.discard(writer)
            writer.close()


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if not size:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":", 1)[1]))
    return b""


Serve = Callable[[Script], Awaitable[Server]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[tuple[asyncio.Server, Server]] = []

    async def start(script: Script) -> Server:
        state = Server(script)
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        state.port = server.sockets[0].getsockname()[1]
        servers.append((server, state))
        return state

    yield start
    for server, state in servers:
        server.close()
        for writer in list(state.open_writers):
            writer.close()
        await server.wait_closed()
    await asyncio.sleep(0)  # the closed transports' callbacks run before the loop ends


def client(port: int, *, timeout: float = 2.0, limit: int = 8) -> LeanUpstream:
    return LeanUpstream(UpstreamSettings("legacy", f"http://127.0.0.1:{port}", timeout, 1.0, limit))


def fixed(answer: bytes) -> Script:
    return lambda head, body, index: answer


def ok(body: bytes = b"hello") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


ROOT = Target("/", None)


async def get(
    lean: LeanUpstream,
    method: str = "GET",
    target: Target = ROOT,
    body: bytes | None = None,
    headers: CIMultiDict[str] | None = None,
) -> tuple[int, bytes]:
    async with lean.send(method, target, headers=headers or CIMultiDict(), body=body) as answer:
        return answer.status, await answer.read()


# the head ------------------------------------------------------------------------------------


def test_parse_head_reads_status_reason_and_headers_as_sent() -> None:
    status, reason, pairs, version = parse_head(
        b"HTTP/1.1 404 Not Found\r\nX-A: 1 \r\nset-cookie: a=b\r\nX-Empty:\r\n\r\n"
    )
    assert (status, reason, version) == (404, "Not Found", "HTTP/1.1")
    assert pairs == [("X-A", "1"), ("set-cookie", "a=b"), ("X-Empty", "")]
    assert parse_head(b"HTTP/1.0 200\r\n\r\n")[:2] == (200, "")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\nInjected: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",
    ],
)
def test_parse_head_refuses_what_is_not_plain_http_1(raw: bytes) -> None:
    with pytest.raises(UpstreamProtocolError):
        parse_head(raw)


# framing of answers --------------------------------------------------------------------------


async def test_keep_alive_reuses_one_connection_and_frames_the_request(serve: Serve) -> None:
    server = await serve(fixed(ok()))
    lean = client(server.port)
    headers = CIMultiDict({"Host": "shop.example", "Content-Length": "999", "X-A": "1"})
    for _ in range(3):
        assert await get(lean, "POST", Target("/p", "a=1"), b"body", headers) == (200, b"hello")
    assert server.connections == 1
    head, body = server.requests[0]
    assert head.startswith(b"POST /p?a=1 HTTP/1.1\r\n")
    assert b"Host: shop.example\r\n" in head
    assert b"Content-Length: 4\r\n" in head
    assert b"999" not in head
    assert body == b"body"
    await lean.close()


async def test_a_bare_question_mark_and_a_base_path_reach_the_upstream(serve: Serve) -> None:
    server = await serve(fixed(ok()))
    lean = LeanUpstream(
        UpstreamSettings("svc", f"http://127.0.0.1:{server.port}/base/", 2.0, 1.0, 4)
    )
    await get(lean, target=Target("/x", ""))
    assert server.requests[0][0].startswith(b"GET /base/x? HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in server.requests[0][0]
    await lean.close()


async def test_a_streamed_body_goes_chunked_unless_its_length_is_known(serve: Serve) -> None:
    server = await serve(fixed(ok()))
    lean = client(server.port)

    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"ab", b"", b"cd"):
            yield piece

    async with lean.send("PUT", ROOT, headers=CIMultiDict(), body=pieces()) as answer:
        assert await answer.read() == b"hello"
    headers = CIMultiDict({"Content-Length": "4"})
    async with lean.send("PUT", ROOT, headers=headers, body=pieces()) as answer:
        assert await answer.read() == b"hello"
    (head1, body1), (head2, body2) = server.requests
    assert b"Transfer-Encoding: chunked\r\n" in head1
    assert b"Content-Length: 4\r\n" in head2
    assert body1 == body2 == b"abcd"
    assert server.connections == 1
    await lean.close()


async def test_a_chunked_answer_streams_and_keeps_the_connection(serve: Serve) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    server = await serve(fixed(answer))
    lean = client(server.port)
    for _ in range(2):
        async with lean.send("GET", ROOT, headers=CIMultiDict(), body=None) as got:
            assert got.content_length is None
            pieces: list[bytes] = []
            while piece := await got.content.readany():
                pieces.append(piece)
            assert b"".join(pieces) == b"Wikipedia"
    assert server.connections == 1
    await lean.close()


async def test_read_n_returns_at_most_n_bytes(serve: Serve) -> None:
    server = await serve(fixed(ok(b"x" * 100_000)))
    lean = client(server.port)
    async with lean.send("GET", ROOT, headers=CIMultiDict(), body=None) as got:
        assert got.content_length == 100_000
        assert len(await got.content.read(70_001)) == 70_001
        assert len(await got.content.read(70_001)) == 29_999
    await lean.close()


async def test_an_answer_without_length_is_read_to_close_and_not_reused(serve: Serve) -> None:
    server = await serve(fixed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close"))
    lean = client(server.port)
    assert await get(lean) == (200, b"until close")
    assert await get(lean) == (200, b"until close")
    assert server.connections == 2
    await lean.close()


@pytest.mark.parametrize(
    ("method", "answer"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"),
    ],
)
async def test_head_204_and_304_have_no_body_and_keep_the_connection(
    serve: Serve, method: str, answer: bytes
) -> None:
    server = await serve(fixed(answer))
    lean = client(server.port)
    for _ in range(2):
        assert (await get(lean, method))[1] == b""
    assert server.connections == 1
    await lean.close()


async def test_interim_answers_are_skipped(serve: Serve) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    server = await serve(fixed(interim + ok()))
    lean = client(server.port)
    assert await get(lean) == (200, b"hello")
    assert await get(lean) == (200, b"hello")
    assert server.connections == 1
    await lean.close()


async def test_continue_then_silence_times_out(serve: Serve) -> None:
    server = await serve(fixed(b"HTTP/1.1 100 Continue\r\n\r\n"))
    lean = client(server.port, timeout=0.3)
    with pytest.raises(TimeoutError):
        await get(lean)
    await lean.close()


@pytest.mark.parametrize("status", [b"099", b"600", b"101"])
async def test_an_invalid_status_is_an_error(serve: Serve, status: bytes) -> None:
    server = await serve(fixed(b"HTTP/1.1 %b X\r\nContent-Length: 0\r\n\r\n" % status))
    lean = client(server.port)
    with pytest.raises(UpstreamProtocolError, match="invalid status"):
        await get(lean)
    await lean.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\na",
    ],
)
async def test_a_bad_content_length_is_an_error(serve: Serve, answer: bytes) -> None:
    server = await serve(fixed(answer))
    lean = client(server.port)
    with pytest.raises(UpstreamProtocolError, match="Content-Length"):
        await get(lean)
    await lean.close()


@pytest.mark.parametrize("size", [b"0x4", b"+4", b"4_0", b"zz"])
async def test_a_bad_chunk_size_is_an_error(serve: Serve, size: bytes) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%b\r\nWiki\r\n0\r\n\r\n"
    server = await serve(fixed(answer % size))
    lean = client(server.port)
    with pytest.raises(aiohttp.ClientPayloadError):
        await get(lean)
    await lean.close()


async def test_both_framings_given_read_chunked_and_never_reuse(serve: Serve) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n0\r\n\r\n"
    )
    server = await serve(fixed(answer))
    lean = client(server.port)
    assert await get(lean) == (200, b"Wiki")
    assert await get(lean) == (200, b"Wiki")
    assert server.connections == 2
    await lean.close()


# failures ------------------------------------------------------------------------------------


async def test_a_reset_mid_body_is_an_error_never_a_short_answer() -> None:
    async def answer_then_hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        writer.transport.abort()  # a reset, not a FIN

    listener = await asyncio.start_server(answer_then_hang_up, "127.0.0.1", 0)
    lean = client(listener.sockets[0].getsockname()[1])
    async with lean.send("GET", ROOT, headers=CIMultiDict(), body=None) as got:
        assert got.status == 200
        assert await got.content.readany() == b"half"
        with pytest.raises(aiohttp.ClientPayloadError):
            await got.content.readany()
    listener.close()
    await listener.wait_closed()
    await lean.close()


async def test_a_close_before_any_answer_is_server_disconnected(serve: Serve) -> None:
    server = await serve(lambda h, b, i: None)
    lean = client(server.port)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await get(lean)
    assert server.connections == 1  # a fresh connection: no retry
    await lean.close()


async def test_a_refused_connection_is_a_connector_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    lean = client(port)
    with pytest.raises(aiohttp.ClientConnectorError):
        await get(lean)
    await lean.close()


@pytest.mark.parametrize(("method", "retried"), [("GET", True), ("PUT", True), ("POST", False)])
async def test_a_stale_pooled_connection_is_retried_once_for_idempotent_methods(
    serve: Serve, method: str, retried: bool
) -> None:
    # the second request on a connection is read, then the connection closes unanswered: what
    # a server that timed the idle connection out at that very moment looks like
    server = await serve(lambda h, b, i: None if i else ok())
    lean = client(server.port)
    assert await get(lean, method, body=b"x") == (200, b"hello")
    if retried:
        assert await get(lean, method, body=b"x") == (200, b"hello")
        assert len(server.requests) == 3
    else:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(lean, method, body=b"x")
        assert len(server.requests) == 2
    assert server.connections == (2 if retried else 1)
    await lean.close()


async def test_a_streamed_body_is_never_sent_twice(serve: Serve) -> None:
    server = await serve(lambda h, b, i: None if i else ok())
    lean = client(server.port)

    async def pieces() -> AsyncIterator[bytes]:
        yield b"x"

    assert await get(lean, "PUT", body=b"x") == (200, b"hello")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with lean.send("PUT", ROOT, headers=CIMultiDict(), body=pieces()):
            pass
    assert len(server.requests) == 2
    await lean.close()


async def test_an_answer_left_unread_closes_its_connection(serve: Serve) -> None:
    server = await serve(fixed(ok()))
    lean = client(server.port)
    async with lean.send("GET", ROOT, headers=CIMultiDict(), body=None) as got:
        assert got.status == 200  # body not read
    assert await get(lean) == (200, b"hello")
    assert server.connections == 2
    await lean.close()


# the pool ------------------------------------------------------------------------------------


async def test_the_pool_limit_makes_callers_wait_for_a_connection(serve: Serve) -> None:
    server = await serve(fixed(ok()))
    lean = client(server.port, limit=1)
    first = lean.send("GET", ROOT, headers=CIMultiDict(), body=None)
    answer = await first.__aenter__()
    second = spawn(get(lean), name="waiting")
    await asyncio.sleep(0.1)
    assert not second.done()  # waiting for the one connection
    assert await answer.read() == b"hello"
    await first.__aexit__(None, None, None)
    async with asyncio.timeout(2):
        assert await second == (200, b"hello")
    assert server.connections == 1
    # a caller cancelled while waiting gives its turn back
    held = await lean.send("GET", ROOT, headers=CIMultiDict(), body=None).__aenter__()
    waiting = spawn(get(lean), name="waiting")
    await asyncio.sleep(0.05)
    waiting.cancel()
    held.close()
    async with asyncio.timeout(2):
        assert await get(lean) == (200, b"hello")
    await lean.close()


@pytest.mark.parametrize(("kind", "method"), STRAY_KINDS)
async def test_u1_stray_bytes_close_the_connection_so_each_caller_gets_their_own_answer(
    kind: str, method: str
) -> None:
    upstream = StrayUpstream()
    async with serving(upstream) as base:
        lean = LeanUpstream(UpstreamSettings("legacy", base, 2.0, 1.0, 8))
        try:
            for user in ("alice", "bob", "carol"):
                before = upstream.strays
                target = Target(f"/x/{kind}/{user}", None)
                async with lean.send(method, target, headers=CIMultiDict(), body=None) as got:
                    assert got.headers["X-Answer-For"] == user
                    assert b"POISONED" not in await got.read()
                assert await upstream.wait_for_strays(above=before) > before
        finally:
            await lean.close()


def test_the_client_is_chosen_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRANGLER_UPSTREAM_CLIENT", raising=False)
    assert upstream_factory() is LeanUpstream
    monkeypatch.setenv("STRANGLER_UPSTREAM_CLIENT", "aiohttp")
    assert upstream_factory() is UpstreamClient
    monkeypatch.setenv("STRANGLER_UPSTREAM_CLIENT", "curl")
    with pytest.raises(ValueError, match="lean"):
        upstream_factory()


@pytest.mark.parametrize(
    ("answer", "connections"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 2),
        (b"HTTP/1.1 200 OK\r\nConnection: x, Close\r\nContent-Length: 2\r\n\r\nok", 2),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 2),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 1),
    ],
)
async def test_a_connection_either_side_closes_is_not_reused(
    serve: Serve, answer: bytes, connections: int
) -> None:
    server = await serve(fixed(answer))
    lean = client(server.port)
    assert await get(lean) == (200, b"ok")
    assert await get(lean) == (200, b"ok")
    assert server.connections == connections
    await lean.close()


async def test_an_early_answer_to_a_streamed_body_is_heard_and_the_connection_dropped() -> None:
    closed = asyncio.Event()

    async def refuse_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig")
            await writer.drain()
            await asyncio.sleep(0.3)
        finally:
            writer.close()
            closed.set()

    async def slow_body() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"z" * 65536
            await asyncio.sleep(0.02)

    listener = await asyncio.start_server(refuse_at_once, "127.0.0.1", 0)
    lean = client(listener.sockets[0].getsockname()[1])
    headers = CIMultiDict({"Content-Length": str(20 * 65536)})
    async with lean.send("PUT", ROOT, headers=headers, body=slow_body()) as got:
        assert (got.status, await got.read()) == (413, b"big")
    assert not lean._idle  # the upstream may take the unsent rest for a next request
    # the handler's connection closed before the loop ends: left to the collector, its
    # transport is a ResourceWarning in whichever test runs next
    async with asyncio.timeout(5):
        await closed.wait()
    listener.close()
    await listener.wait_closed()
    await lean.close()
