"""Request bodies read whole: memory, then a temporary file; limits, timeouts and cleanup."""

from __future__ import annotations

import asyncio
import errno
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import pytest

from facade.body_spool import BodyLimits, Spool, SpooledBody, read_body
from facade.errors import BodyTimeout, BodyTooLarge, SpoolUnavailable
from facade.tasks import spawn
from facade.throttle import LogThrottle

LIMITS = BodyLimits(max_body=1000, buffer=100, idle_timeout=5, deadline=10)
STALL = object()  # the client sends nothing more


class Reader:
    """Plays chunks, then b"" (the end); ``STALL`` waits forever, an exception is raised."""

    def __init__(self, steps: Sequence[bytes | object | BaseException]) -> None:
        self._steps = list(steps)
        self.stalled = asyncio.Event()

    async def readany(self) -> bytes:
        if not self._steps:
            return b""
        step = self._steps.pop(0)
        if step is STALL:
            self.stalled.set()
            await asyncio.Event().wait()
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, bytes)
        return step


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BinaryIO]]:
    """Every temporary file the spool opens."""
    files: list[BinaryIO] = []
    real = tempfile.TemporaryFile

    def recording(*args: Any, **kwargs: Any) -> BinaryIO:
        file: BinaryIO = real(*args, **kwargs)
        files.append(file)
        return file

    monkeypatch.setattr(tempfile, "TemporaryFile", recording)
    yield files
    for file in files:
        file.close()


async def test_a_body_within_the_buffer_stays_in_memory(opened: list[BinaryIO]) -> None:
    assert await read_body(Reader([b"a" * 60, b"b" * 40]), LIMITS) == b"a" * 60 + b"b" * 40
    assert opened == []


async def test_a_larger_body_is_spooled_and_can_be_sent_again(opened: list[BinaryIO]) -> None:
    parts = [bytes([i]) * 70 for i in range(10)]
    body = await read_body(Reader(parts), LIMITS)
    assert isinstance(body, SpooledBody)
    assert body.size == 700
    first = [chunk async for chunk in body.chunks()]
    assert b"".join(first) == b"".join(parts)
    assert await body.read_all() == b"".join(parts)  # a retry reads it from the start again
    body.close()
    assert body.closed
    assert opened[0].closed


async def test_a_spooled_body_is_sent_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("facade.body_spool.CHUNK", 64)
    body = await read_body(Reader([b"x" * 300]), LIMITS)
    assert isinstance(body, SpooledBody)
    assert [len(chunk) async for chunk in body.chunks()] == [64, 64, 64, 64, 44]
    body.close()


@pytest.mark.parametrize(
    ("steps", "error", "message"),
    [
        ([b"x" * 600, b"x" * 401], BodyTooLarge, "over the 1000-byte limit"),
        ([b"x" * 200, STALL], BodyTimeout, "no byte of the request body for 0.05s"),
        ([b"x" * 200, ConnectionResetError("Connection lost")], ConnectionResetError, "lost"),
    ],
    ids=["too-large", "idle", "client-gone"],
)
async def test_a_body_that_fails_midway_leaves_no_file_open(
    opened: list[BinaryIO], steps: list[object], error: type[BaseException], message: str
) -> None:
    limits = BodyLimits(max_body=1000, buffer=100, idle_timeout=0.05, deadline=10)
    with pytest.raises(error, match=message):
        await read_body(Reader(steps), limits)
    assert len(opened) == 1
    assert opened[0].closed


async def test_a_body_slower_than_its_deadline_is_refused() -> None:
    class Trickle:
        async def readany(self) -> bytes:
            await asyncio.sleep(0.02)  # always a byte soon: never idle, never done
            return b"x"

    limits = BodyLimits(max_body=10**6, buffer=100, idle_timeout=1, deadline=0.2)
    with pytest.raises(BodyTimeout, match=r"not complete within 0\.2s"):
        await read_body(Trickle(), limits)


async def test_a_cancelled_read_closes_its_file(opened: list[BinaryIO]) -> None:
    reader = Reader([b"x" * 200, STALL])
    task = spawn(read_body(reader, LIMITS), name="read-body")
    await reader.stalled.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert opened[0].closed


async def test_a_zero_buffer_spools_every_body(opened: list[BinaryIO]) -> None:
    limits = BodyLimits(max_body=1000, buffer=0, idle_timeout=5, deadline=10)
    body = await read_body(Reader([b"x"]), limits)
    assert isinstance(body, SpooledBody)
    body.close()
    assert await read_body(Reader([]), limits) == b""  # an empty body needs no file


async def test_a_body_closed_while_being_sent_is_never_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("facade.body_spool.CHUNK", 100)
    body = await read_body(Reader([b"a" * 300]), LIMITS)
    assert isinstance(body, SpooledBody)
    sending = body.chunks()
    assert await anext(sending) == b"a" * 100
    body.close()  # the request ended; its descriptor number may now name another file
    other = await read_body(Reader([b"b" * 300]), LIMITS)
    with pytest.raises(OSError, match="spooled body is gone"):
        await anext(sending)
    assert isinstance(other, SpooledBody)
    other.close()


async def test_s1_spooled_bodies_past_the_process_budget_are_refused_503(
    opened: list[BinaryIO],
) -> None:
    spool = Spool()
    limits = BodyLimits(max_body=1000, buffer=100, idle_timeout=5, deadline=10, spool_max=900)
    first = await read_body(Reader([b"x" * 600]), limits, spool=spool)
    assert isinstance(first, SpooledBody)
    assert spool.in_use == 600
    with pytest.raises(SpoolUnavailable, match="spool budget") as refused:
        await read_body(Reader([b"y" * 200, b"y" * 200]), limits, spool=spool)
    assert (refused.value.status, refused.value.retry_after) == (503, 1)
    assert opened[-1].closed  # the refused body's file is gone, and its bytes released
    assert spool.in_use == 600
    first.close()
    first.close()  # idempotent: released once
    assert spool.in_use == 0
    again = await read_body(Reader([b"z" * 800]), limits, spool=spool)
    assert isinstance(again, SpooledBody)
    again.close()


@pytest.mark.parametrize("where", ["open", "write"])
async def test_s1_a_temporary_file_that_fails_is_503_logged_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    class Full:
        def write(self, data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        closed = False

        def close(self) -> None:
            self.closed = True

    def failing(*args: Any, **kwargs: Any) -> Any:
        if where == "open":
            raise OSError(errno.EMFILE, "Too many open files")
        return Full()

    monkeypatch.setattr(tempfile, "TemporaryFile", failing)
    spool = Spool(LogThrottle(interval=60, clock=lambda: 0.0))
    for _ in range(3):
        with pytest.raises(SpoolUnavailable, match=r"EMFILE|ENOSPC") as refused:
            await read_body(Reader([b"x" * 300]), LIMITS, spool=spool)
        assert refused.value.status == 503
    assert spool.in_use == 0
    lines = [r for r in caplog.records if r.name == "strangler.body_spool"]
    assert len(lines) == 1
