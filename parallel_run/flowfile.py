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

# re-exported: callers that read or write flow files catch these from here too
from parallel_run.errors import RecordExtraMissing as RecordExtraMissing
from parallel_run.errors import TrafficFileError as TrafficFileError
from parallel_run.redact import Redactor
from parallel_run.traffic import Headers, RecordedExchange, RecordedResponse, Skipped

if TYPE_CHECKING:
    from mitmproxy.http import HTTPFlow

log = logging.getLogger("strangler.parallel_run.flowfile")


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
    naming the byte offset and flow number where reading stopped, after the good flows.

    Flows are read straight from their serialized state (``tnetstring``, migrated to the
    current format by mitmproxy's ``compat``), not rebuilt as ``HTTPFlow`` objects: that
    halves the cost of reading, which bounds a replay's rate.
    """
    require_mitmproxy()
    from mitmproxy import version
    from mitmproxy.io import compat

    count = 0
    while True:
        offset = stream.tell()
        try:
            state = _load(stream, only=_NEEDED)
            if state is None:
                return
            if not isinstance(state, dict):
                raise ValueError(f"a flow is a dictionary, not {type(state).__name__}")
            if state.get("version") != version.FLOW_FORMAT_VERSION:
                # an older format: read it whole and let mitmproxy convert it
                stream.seek(offset)
                state = compat.migrate_flow(_load(stream))
            item = from_state(state, count + 1)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise TrafficFileError(
                path,
                where=f"byte {offset} (flow {count + 1})",
                reason=f"truncated or corrupt ({exc})",
                read=count,
            ) from exc
        count += 1
        yield item


# what a replay reads of a flow; connections, metadata and the rest are skipped unparsed
_NEEDED = frozenset({"version", "type", "request", "response"})


def _load(stream: BinaryIO, *, only: frozenset[str] | None = None) -> Any:
    """The next top-level tnetstring of ``stream``; None at the end of the file.

    ``only``: the top-level value is a dictionary of which only these keys are parsed."""
    head = stream.read(1)
    if not head:
        return None
    digits = b""
    while head.isdigit() and len(digits) <= 12:
        digits += head
        head = stream.read(1)
    if head != b":" or not digits:
        raise ValueError("missing or invalid length prefix")
    length = int(digits)
    data = stream.read(length + 1)
    if len(data) != length + 1:
        raise ValueError(f"cut short: {len(data)} of {length + 1} bytes")
    if only is not None and data[length] == 0x7D:
        return _parse_dict(data, length, only)
    return _parse(data, 0, length, data[length])


def _item(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(first, last) of the item at ``pos``: its value is ``data[first:last]``, its type tag
    ``data[last]``."""
    colon = data.index(_COLON, pos, end)
    first = colon + 1
    last = first + int(data[pos:colon])
    if last >= end:
        raise ValueError("an item runs past its container")
    return first, last


def _parse_dict(data: bytes, end: int, only: frozenset[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pos = 0
    while pos < end:
        first, last = _item(data, pos, end)
        key = _parse(data, first, last, data[last])
        first, last = _item(data, last + 1, end)
        if key in only:
            found[key] = _parse(data, first, last, data[last])
        pos = last + 1
    return found


_COLON = ord(":")


def _parse(data: bytes, start: int, end: int, tag: int) -> Any:
    """tnetstring value ``data[start:end]`` of type ``tag`` (mitmproxy's own parser walks
    memoryviews byte by byte; positions in one buffer are several times faster)."""
    if tag == 0x2C:  # ,
        return data[start:end]
    if tag == 0x3B:  # ;
        return data[start:end].decode("utf-8")
    if tag == 0x23:  # #
        return int(data[start:end])
    if tag == 0x5E:  # ^
        return float(data[start:end])
    if tag == 0x21:  # !
        word = data[start:end]
        if word not in (b"true", b"false"):
            raise ValueError(f"invalid boolean {word[:20]!r}")
        return word == b"true"
    if tag == 0x7E:  # ~
        if end != start:
            raise ValueError("invalid null")
        return None
    if tag not in (0x5D, 0x7D):  # ] }
        raise ValueError(f"unknown type tag {tag!r}")
    items = []
    pos = start
    while pos < end:
        first, last = _item(data, pos, end)
        items.append(_parse(data, first, last, data[last]))
        pos = last + 1
    if tag == 0x5D:
        return items
    if len(items) % 2:
        raise ValueError("a dictionary with an odd number of items")
    return dict(zip(items[::2], items[1::2], strict=True))


def from_state(state: dict[str, Any], index: int) -> RecordedExchange | Skipped:
    """The exchange in a flow's serialized state (mitmproxy's current flow format)."""
    if state.get("type") != "http":
        return Skipped(index, f"not an HTTP flow ({state.get('type')})")
    request = state["request"]
    target = _text(request["path"]) or "/"
    if not target.startswith("/"):
        return Skipped(index, f"request-target not in origin form: {target[:80]!r}")
    headers = _state_headers(request["headers"])
    response = None
    answer = state.get("response")
    if answer is not None:
        answer_headers = _state_headers(answer["headers"])
        response = RecordedResponse(
            status=int(answer["status_code"]),
            headers=_without_framing(answer_headers),
            body=_decoded(answer["content"], answer_headers),
            reason=_text(answer.get("reason") or b""),
        )
    return RecordedExchange(
        method=_text(request["method"]),
        target=target,
        headers=_without_framing(headers),
        body=_decoded(request["content"], headers),
        response=response,
        scheme=_text(request.get("scheme") or b"http"),
        host=_text(request.get("host") or ""),
        port=int(request.get("port") or 0),
        started=float(request.get("timestamp_start") or 0.0),
    )


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _state_headers(fields: Any) -> Headers:
    return tuple((_text(name), _text(value)) for name, value in fields)


def _without_framing(headers: Headers) -> Headers:
    return tuple(
        (name, value)
        for name, value in headers
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    )


def _decoded(content: bytes | None, headers: Headers) -> bytes:
    """The body as the client read it: ``Content-Encoding`` undone (kept raw if it fails)."""
    if not content:
        return b""
    coding = next((v for n, v in headers if n.lower() == "content-encoding"), "").strip()
    if not coding or coding.lower() == "identity":
        return content
    from mitmproxy.net import encoding

    try:
        decoded = encoding.decode(content, coding)
    except ValueError:
        return content
    return decoded if isinstance(decoded, bytes) else decoded.encode("utf-8")


# the facade's sampler ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SinkStats:
    written: int
    dropped: int
    failed: int


class FlowSink:
    """Appends sampled exchanges to a flow file from a writer thread.

    ``offer()`` never blocks and never raises: a full queue counts a drop. The writer redacts
    each exchange (by the ``Redactor`` it was offered with, else the sink's) before it is
    written, so secrets never reach the file.
    """

    def __init__(self, path: Path, *, redactor: Redactor, maxsize: int = 1024) -> None:
        require_mitmproxy()
        self.path = path
        self._redactor = redactor
        self._queue: queue.Queue[tuple[RecordedExchange, Redactor] | None] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._written = self._dropped = self._failed = 0
        # unbuffered: each flow is one write(2) in append mode, so several facade workers can
        # share one file without interleaving their flows
        self._file = path.open("ab", buffering=0)
        self._thread = threading.Thread(target=self._run, name="strangler-record", daemon=True)
        self._thread.start()

    def offer(self, exchange: RecordedExchange, *, redactor: Redactor | None = None) -> bool:
        """Queue ``exchange``; ``redactor``: the rules in force for it (they follow reloads)."""
        try:
            self._queue.put_nowait((exchange, redactor or self._redactor))
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
            while (item := self._queue.get()) is not None:
                exchange, redactor = item
                try:
                    writer.add(to_flow(exchange.redacted(redactor)))
                except Exception as exc:  # a full disk costs samples, never the facade
                    with self._lock:
                        self._failed += 1
                    log.warning("record: could not write a flow to %s: %s", self.path, exc)
                    continue
                with self._lock:
                    self._written += 1
        finally:
            self._file.close()
