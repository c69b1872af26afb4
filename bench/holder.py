"""Many idle keep-alive connections, held open in a thread of their own (bench connections suite).

Each connection is opened, asks once (``GET PATH``, answer read in full) and is then kept open,
idle, until ``ask_all`` asks once more on every one of them: a connection the front closed
meanwhile, or one that answers other than 200, is an error. A connection left idle for longer
than ``refresh_after`` (the fronts close idle ones after 75 s) asks again, so a long run does not
measure the keep-alive timeout. The requests are written by hand: a client library would cost
more memory and CPU per connection than the front it measures, on the same 2 cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
OPEN_AT_ONCE = 256  # connects in flight at once: below the fronts' listen backlogs
ANSWER_TIMEOUT = 30.0  # seconds for one answer; past it the connection counts as an error
REFRESH_AFTER = 50.0  # idle seconds after which a held connection asks again


class Failed(Exception):
    """A held connection failed: ``kind`` is what is counted."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(slots=True)
class _Held:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: float  # monotonic time of its last answer


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request, read its whole answer; the status. Raises ``Failed`` when the
    connection cannot be kept (closed, or the answer says ``Connection: close``)."""
    writer.write(request)
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        raise Failed("closed by the front") from None
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise Failed("malformed answer")
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    try:
        if "content-length" in headers:
            await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                await reader.readexactly(size + 2)
        else:
            raise Failed("answer without a length")
    except asyncio.IncompleteReadError:
        raise Failed("closed by the front") from None
    if headers.get("connection", "").lower() == "close":
        raise Failed(f"status {parts[1]} and Connection: close")
    return int(parts[1])


class Holder:
    """``with Holder(host, port, path) as holder: holder.open(9000); ...; holder.ask_all()``."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        *,
        refresh_after: float = REFRESH_AFTER,
        answer_timeout: float = ANSWER_TIMEOUT,
    ) -> None:
        self.host, self.port = host, port
        self._request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        self._refresh_after = refresh_after
        self._answer_timeout = answer_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="holder", daemon=True)
        self._held: list[_Held] = []
        self._refresher: asyncio.Task[None] | None = None
        self.errors: Counter[str] = Counter()  # what failed, by kind, over the holder's life
        self.refreshed = 0  # requests made only to keep an idle connection open

    # -- the thread and its loop --------------------------------------------------------------

    def __enter__(self) -> Holder:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            self._call(self._close_all(), timeout=60.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        if not self._thread.is_alive():
            self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def held(self) -> int:
        return len(self._held)

    # -- what the bench calls -----------------------------------------------------------------

    def open(self, count: int, timeout: float = 600.0) -> float:
        """Open ``count`` connections, ask once on each; the seconds it took. The failures are
        counted in ``errors``; the connections that answered 200 are held."""
        started = time.monotonic()
        self._call(self._open(count), timeout)
        self._refresher = self._call(self._start_refresher(), 10.0)
        return time.monotonic() - started

    def ask_all(self, timeout: float = 600.0) -> int:
        """Ask once more on every held connection; how many answered 200 and stay open."""
        return self._call(self._ask_all(), timeout)

    # -- in the holder's loop -----------------------------------------------------------------

    async def _open(self, count: int) -> None:
        gate = asyncio.Semaphore(OPEN_AT_ONCE)

        async def one() -> None:
            async with gate:
                try:
                    async with asyncio.timeout(self._answer_timeout):
                        reader, writer = await asyncio.open_connection(self.host, self.port)
                except (OSError, TimeoutError) as exc:
                    self.errors[f"connect: {type(exc).__name__}"] += 1
                    return
                held = _Held(reader, writer, 0.0)
                if await self._ask(held):
                    self._held.append(held)

        await asyncio.gather(*(one() for _ in range(count)))

    async def _ask(self, held: _Held) -> bool:
        """One request on a held connection; False (error counted, connection closed) if it
        did not answer 200 and stay open."""
        try:
            async with asyncio.timeout(self._answer_timeout):
                status = await exchange(held.reader, held.writer, self._request)
        except Failed as exc:
            kind = exc.kind
        except TimeoutError:
            kind = "no answer in time"
        except OSError as exc:
            kind = f"{type(exc).__name__}"
        else:
            if status == 200:
                held.used = time.monotonic()
                return True
            kind = f"status {status}"
        self.errors[kind] += 1
        held.writer.close()
        return False

    async def _ask_all(self) -> int:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        gate = asyncio.Semaphore(OPEN_AT_ONCE)

        async def one(held: _Held) -> bool:
            async with gate:
                return await self._ask(held)

        kept = await asyncio.gather(*(one(h) for h in self._held))
        self._held = [h for h, ok in zip(self._held, kept, strict=True) if ok]
        return len(self._held)

    async def _start_refresher(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._refresh(), name="holder-refresh")

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            due = time.monotonic() - self._refresh_after
            stale = [h for h in self._held if h.used < due]
            for held in stale:
                self.refreshed += 1
                if not await self._ask(held):
                    self._held.remove(held)

    async def _close_all(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        for held in self._held:
            held.writer.close()
        self._held = []
        await asyncio.sleep(0)
