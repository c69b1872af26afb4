"""mitmproxy's flow file format, for recorded exchanges: write them, read them back.

mitmproxy is the optional extra ``strangler[record]``: it is imported only when a flow is
converted, and ``require_mitmproxy()`` turns its absence into an error that says what to
install. ``FlowSink`` is the recorder the facade samples live traffic into: a bounded queue
and one writer thread, so a slow disk costs dropped samples, never a slower request.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from parallel_run.errors import ExperimentError
from parallel_run.redact import Redactor
from parallel_run.traffic import Headers, RecordedExchange, RecordedResponse, Skipped

if TYPE_CHECKING:
    from mitmproxy.http import HTTPFlow

log = logging.getLogger("strangler.parallel_run.flowfile")
INSTALL_HINT = (
    "mitmproxy flow files need the optional extra: install strangler[record]"
    " (pip install 'strangler[record]')"
)


class RecordExtraMissing(ExperimentError):
    """mitmproxy, the optional extra ``strangler[record]``, is not installed."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


class TrafficFileError(ExperimentError, ValueError):
    """A recording is damaged or unreadable; ``where`` says where reading stopped.

    ``read`` entries came before the damage (and were handed out before this was raised).
    """

    def __init__(self, path: Path, *, where: str, reason: str, read: int) -> None:
        self.path, self.where, self.reason, self.read = path, where, reason, read
        super().__init__(f"{path}: reading stopped at {where}: {reason} ({read} entries read)")


def require_mitmproxy() -> None:
    """Raise ``RecordExtraMissing`` unless mitmproxy can be imported."""
    try:
        import mitmproxy.io  # noqa: F401
    except ImportError as exc:
        raise RecordExtraMissing() from exc


# conversions ------------------------------------------------------------------------------


def _pairs(fields: Any) -> Headers:
    return tuple((str(name), str(value)) for name, value in fields.items(multi=True))


def _raw(pairs: Headers) -> tuple[tuple[bytes, bytes], ...]:
    return tuple(
        (name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape"))
        for name, value in pairs
    )


def to_flow(exchange: RecordedExchange) -> HTTPFlow:
    """A mitmproxy ``HTTPFlow`` holding ``exchange`` (as if a reverse proxy had seen it)."""
    require_mitmproxy()
    from mitmproxy import connection, http

    started = exchange.started or time.time()
    client = connection.Client(
        peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0), timestamp_start=started
    )
    server = connection.Server(address=(exchange.host, exchange.port))
    flow = http.HTTPFlow(client, server)
    flow.request = http.Request(
        exchange.host,
        exchange.port,
        exchange.method.encode("ascii"),
        exchange.scheme.encode("ascii"),
        b"",
        exchange.target.encode("utf-8", "surrogateescape"),
        b"HTTP/1.1",
        _raw(exchange.headers),
        exchange.body,
        None,
        started,
        started,
    )
    answer = exchange.response
    if answer is not None:
        flow.response = http.Response(
            b"HTTP/1.1",
            answer.status,
            answer.reason.encode("ascii", "replace"),
            _raw(answer.headers),
            answer.body,
            None,
            started,
            time.time() if not exchange.started else started,
        )
    return flow


def from_flow(flow: Any, index: int) -> RecordedExchange | Skipped:
    """The exchange a mitmproxy flow holds, or why it cannot be replayed.

    Bodies are decoded (``Content-Encoding`` undone, the header dropped): what is compared is
    what the client read.
    """
    from mitmproxy import http

    if not isinstance(flow, http.HTTPFlow):
        return Skipped(index, f"not an HTTP flow ({type(flow).__name__})")
    request = flow.request
    target = request.path or "/"
    if not target.startswith("/"):
        return Skipped(index, f"request-target not in origin form: {target[:80]!r}")
    response = None
    if flow.response is not None:
        answer = flow.response
        response = RecordedResponse(
            status=answer.status_code,
            headers=_decoded_headers(answer.headers),
            body=answer.get_content(strict=False) or b"",
            reason=answer.reason,
        )
    return RecordedExchange(
        method=request.method,
        target=target,
        headers=_decoded_headers(request.headers),
        body=request.get_content(strict=False) or b"",
        response=response,
        scheme=request.scheme,
        host=request.host,
        port=request.port,
        started=request.timestamp_start,
    )


def _decoded_headers(fields: Any) -> Headers:
    return tuple(
        (name, value)
        for name, value in _pairs(fields)
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    )


def write_flows(path: Path, exchanges: list[RecordedExchange]) -> None:
    """Write ``exchanges`` as a mitmproxy flow file (tests, conversions)."""
    require_mitmproxy()
    from mitmproxy import io

    with path.open("wb") as out:
        writer = io.FlowWriter(out)  # type: ignore[no-untyped-call]
        for exchange in exchanges:
            writer.add(to_flow(exchange))


def read_flows(path: Path, stream: BinaryIO) -> Iterator[RecordedExchange | Skipped]:
    """Every flow of a mitmproxy flow file, in order; a damaged file raises TrafficFileError
    naming the byte offset and flow number where reading stopped, after the good flows."""
    require_mitmproxy()
    from mitmproxy import exceptions, io

    reader = io.FlowReader(stream)
    count = 0
    offset = stream.tell()
    flows = iter(reader.stream())
    while True:
        try:
            flow = next(flows)
        except StopIteration:
            return
        except (exceptions.FlowReadException, ValueError, TypeError, KeyError) as exc:
            reason = str(exc) or type(exc).__name__
            if exc.__cause__ is not None:  # mitmproxy's "Invalid data format." says too little
                reason = f"truncated or corrupt ({exc.__cause__})"
            raise TrafficFileError(
                path, where=f"byte {offset} (flow {count + 1})", reason=reason, read=count
            ) from exc
        count += 1
        offset = stream.tell()
        yield from_flow(flow, count)


# the facade's sampler ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SinkStats:
    written: int
    dropped: int
    failed: int


class FlowSink:
    """Appends sampled exchanges to a flow file from a writer thread.

    ``offer()`` never blocks and never raises: a full queue counts a drop. The writer redacts
    each exchange (``Redactor``) before it is written, so secrets never reach the file.
    """

    def __init__(self, path: Path, *, redactor: Redactor, maxsize: int = 1024) -> None:
        require_mitmproxy()
        self.path = path
        self._redactor = redactor
        self._queue: queue.Queue[RecordedExchange | None] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._written = self._dropped = self._failed = 0
        # unbuffered: each flow is one write(2) in append mode, so several facade workers can
        # share one file without interleaving their flows
        self._file = path.open("ab", buffering=0)
        self._thread = threading.Thread(target=self._run, name="strangler-record", daemon=True)
        self._thread.start()

    def offer(self, exchange: RecordedExchange) -> bool:
        try:
            self._queue.put_nowait(exchange)
        except queue.Full:
            with self._lock:
                self._dropped += 1
            return False
        return True

    def count_drop(self) -> None:
        """Count a sample lost before it reached the queue (a body too large to keep)."""
        with self._lock:
            self._dropped += 1

    def stats(self) -> SinkStats:
        with self._lock:
            return SinkStats(self._written, self._dropped, self._failed)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then close the file."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("record: queue still full after %.1fs; closing anyway", timeout)
        self._thread.join(timeout)

    def _run(self) -> None:
        from mitmproxy import io

        writer = io.FlowWriter(self._file)  # type: ignore[no-untyped-call]
        try:
            while (exchange := self._queue.get()) is not None:
                try:
                    writer.add(to_flow(exchange.redacted(self._redactor)))
                except Exception as exc:  # a full disk costs samples, never the facade
                    with self._lock:
                        self._failed += 1
                    log.warning("record: could not write a flow to %s: %s", self.path, exc)
                    continue
                with self._lock:
                    self._written += 1
        finally:
            self._file.close()
