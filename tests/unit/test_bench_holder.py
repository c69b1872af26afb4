"""bench/holder.py reads a whole answer, by length or in chunks, and counts a connection the
front will close (``Connection: close``, or closed mid-answer) as failed: the connections suite's
"every idle connection stayed open" rests on it."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from bench.holder import Failed, exchange

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class _Writer:
    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data


async def _exchange(answer: bytes) -> tuple[int, _Writer, asyncio.StreamReader]:
    reader = asyncio.StreamReader()
    reader.feed_data(answer)
    reader.feed_eof()
    writer = _Writer()
    status = await exchange(reader, cast(asyncio.StreamWriter, writer), REQUEST)
    return status, writer, reader


async def test_an_answer_with_a_length_is_read_to_its_end_and_the_next_bytes_are_left() -> None:
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    status, writer, reader = await _exchange(first + b"HTTP/1.1 503 X")
    assert (status, writer.written) == (200, REQUEST)
    assert await reader.read() == b"HTTP/1.1 503 X"


async def test_a_chunked_answer_is_read_to_its_last_chunk() -> None:
    body = b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    answer = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    status, _, reader = await _exchange(answer + b"next")
    assert status == 404
    assert await reader.read() == b"next"


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "Connection: close"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed by the front"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "closed by the front"),
        (b"HTTP/1.1 200 OK\r\n\r\nbody until close", "answer without a length"),
        (b"garbage\r\n\r\n", "malformed answer"),
    ],
)
async def test_an_answer_that_ends_the_connection_fails(answer: bytes, kind: str) -> None:
    with pytest.raises(Failed) as caught:
        await _exchange(answer)
    assert kind in caught.value.kind
