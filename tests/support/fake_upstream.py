"""A fake upstream for the stages' unit tests: no process, no socket.

``FakeUpstream`` implements the facade's upstream port (``facade.upstream.Upstream``): it
records every request it is sent (``sent``) and answers what the test scripted, in order
(``script(...)``): a ``FakeAnswer``, or an exception raised when the request is sent (a
timeout, a connection refused). A ``FakeAnswer`` may also break off in the middle of its body
(``error``, raised after its ``chunks``).

``FakeUpstreams`` is the factory a ``FacadeState`` builds its clients with::

    fakes = FakeUpstreams()
    state = FacadeState(LiveConfig(config), upstreams=Upstreams(fakes.factory))
    fakes["legacy"].script(FakeAnswer(200, b"hello"))

It lives with the tests, not in the toolkit: only the facade's own stages are written against
the port, and a user's translators and routes are tested through ``acl`` and ``regress``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from facade.config.normalize import Target
from facade.upstream import UpstreamSettings


@dataclass(frozen=True, slots=True)
class Sent:
    """One request as the upstream got it."""

    upstream: str
    method: str
    target: Target
    headers: CIMultiDict[str]
    body: bytes | None


class FakeAnswer:
    """A scripted answer: ``body`` whole, or in ``chunks``; ``error`` raised after them.

    ``Content-Length`` is set to the body's size unless ``headers`` has one or ``sized`` is
    False (an answer of unknown size, as a chunked one). Like aiohttp's ``ClientResponse``,
    ``read()`` keeps what it read: a second call returns it again.
    """

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        *,
        headers: Iterable[tuple[str, str]] = (),
        chunks: Iterable[bytes] | None = None,
        error: BaseException | None = None,
        reason: str | None = None,
        sized: bool = True,
    ) -> None:
        self.status = status
        self.reason = reason
        self._chunks = deque(chunks if chunks is not None else [body] if body else [])
        whole = b"".join(self._chunks)
        pairs = CIMultiDict(headers)
        if sized and "Content-Length" not in pairs:
            pairs["Content-Length"] = str(len(whole))
        self.headers = CIMultiDictProxy(pairs)
        self._error = error
        self._read: bytes | None = None
        self.closed = False  # close(): the connection is dropped
        self.released = False  # the ``async with`` ended: the connection is reusable

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None else None

    @property
    def content(self) -> FakeAnswer:
        return self  # readany() and read(n), as aiohttp's StreamReader

    async def readany(self) -> bytes:
        if self._chunks:
            return self._chunks.popleft()
        if self._error is not None:
            raise self._error
        return b""

    async def read(self, n: int = -1) -> bytes:
        if self._read is None:
            parts = []
            while chunk := await self.readany():
                parts.append(chunk)
            self._read = b"".join(parts)
        return self._read if n < 0 else self._read[:n]

    def close(self) -> None:
        self.closed = True


Scripted = FakeAnswer | BaseException


@dataclass(eq=False)
class FakeUpstream:
    """An upstream that answers from a script and records what it was sent."""

    name: str
    settings: UpstreamSettings
    scripted: deque[Scripted] = field(default_factory=deque)
    sent: list[Sent] = field(default_factory=list)
    answers: list[FakeAnswer] = field(default_factory=list)  # what it answered, in order
    closed: bool = False

    @property
    def base(self) -> URL:
        return URL(self.settings.url)

    def script(self, *items: Scripted) -> FakeUpstream:
        """Answer the next requests with ``items``, in order; then ``200`` with no body."""
        self.scripted.extend(items)
        return self

    @asynccontextmanager
    async def send(
        self,
        method: str,
        target: Target,
        *,
        headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None,
    ) -> AsyncIterator[FakeAnswer]:
        """The port's one method: record the request, answer the next scripted item."""
        data = (
            body if body is None or isinstance(body, bytes) else b"".join([c async for c in body])
        )
        self.sent.append(Sent(self.name, method, target, CIMultiDict(headers), data))
        item = self.scripted.popleft() if self.scripted else FakeAnswer(200)
        if isinstance(item, BaseException):
            raise item
        self.answers.append(item)
        yield item
        item.released = True

    async def close(self) -> None:
        self.closed = True


class FakeUpstreams:
    """Fake upstreams by name; ``factory`` is what ``Upstreams(factory)`` builds clients with."""

    def __init__(self) -> None:
        self._fakes: dict[str, FakeUpstream] = {}

    def __getitem__(self, name: str) -> FakeUpstream:
        fake = self._fakes.get(name)
        if fake is None:
            settings = UpstreamSettings(name, f"http://{name}.test", 1.0, 1.0, 10)
            fake = self._fakes[name] = FakeUpstream(name, settings)
        return fake

    def factory(self, settings: UpstreamSettings) -> FakeUpstream:
        fake = self[settings.name]
        fake.settings = settings
        return fake

    @property
    def sent(self) -> list[Sent]:
        """Every request sent, to any upstream (in order within each upstream)."""
        return [sent for fake in self._fakes.values() for sent in fake.sent]


def connect_error(message: str = "Connection refused") -> aiohttp.ClientConnectorError:
    """What aiohttp raises when no connection could be made (the service never got the
    request: a write may still fall back to the monolith)."""
    key = SimpleNamespace(host="fake.test", port=80, ssl=False)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, message))  # type: ignore[arg-type]


def broken_off() -> aiohttp.ClientPayloadError:
    """What aiohttp raises when an upstream closes the connection in the middle of a body."""
    return aiohttp.ClientPayloadError("Response payload is not completed")
