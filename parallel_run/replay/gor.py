"""GoReplay ``.gor`` files: payloads separated by a line of three monkeys.

Each payload is a header line ``TYPE ID TIMESTAMP_NS [LATENCY_NS]`` and a raw HTTP message;
type 1 is a request, 2 the response the original server gave it, 3 a response to a replayed
request (ignored). A request and its response share the ID. Requests are yielded in file
order, each with its type-2 response when the file holds one.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from parallel_run.errors import TrafficFileError
from parallel_run.traffic import Headers, RecordedExchange, RecordedResponse, Skipped, header

SEPARATOR = "\n\U0001f435\U0001f648\U0001f649\n".encode()
_DROPPED = frozenset({"content-length", "transfer-encoding"})
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _Bad(ValueError):
    """A payload is not a well-formed HTTP message: the message says why."""


def read_gor(path: Path, stream: BinaryIO) -> Iterator[RecordedExchange | Skipped]:
    data = stream.read()
    requests: list[tuple[str, RecordedExchange | Skipped]] = []
    responses: dict[str, RecordedResponse] = {}
    offset = 0
    number = 0
    while offset < len(data):
        end = data.find(SEPARATOR, offset)
        chunk = data[offset:] if end < 0 else data[offset:end]
        if not chunk.strip():
            break
        number += 1
        head, _, message = chunk.partition(b"\n")
        fields = head.decode("ascii", "replace").split()
        try:
            if len(fields) < 3 or fields[0] not in ("1", "2", "3") or not fields[2].isdigit():
                raise _Bad(f"bad payload header {head[:60]!r}")
            kind, ident, stamp = fields[0], fields[1], int(fields[2])
            if kind == "1":
                requests.append((ident, _request(message, stamp / 1e9)))
            elif kind == "2":
                responses[ident] = _response(message)
        except _Bad as exc:
            # a request that is merely odd is skipped; a cut-off last payload is damage
            if end < 0:
                yield from _paired(requests, responses)
                raise TrafficFileError(
                    path,
                    where=f"byte {offset} (payload {number})",
                    reason=f"truncated or malformed: {exc}",
                    read=len(requests),
                ) from exc
            requests.append((f"#bad{number}", Skipped(number, str(exc))))
        offset = len(data) if end < 0 else end + len(SEPARATOR)
    yield from _paired(requests, responses)


def _paired(
    requests: list[tuple[str, RecordedExchange | Skipped]], responses: dict[str, RecordedResponse]
) -> Iterator[RecordedExchange | Skipped]:
    for ident, item in requests:
        if isinstance(item, RecordedExchange) and ident in responses:
            yield RecordedExchange(
                method=item.method,
                target=item.target,
                headers=item.headers,
                body=item.body,
                response=responses[ident],
                host=item.host,
                port=item.port,
                started=item.started,
            )
        else:
            yield item
    requests.clear()


def _split(message: bytes) -> tuple[str, Headers, bytes]:
    for blank in (b"\r\n\r\n", b"\n\n"):
        head, sep, body = message.partition(blank)
        if sep:
            break
    else:
        raise _Bad("no blank line after the headers")
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    pairs = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise _Bad(f"bad header line {line[:60]!r}")
        pairs.append((name.strip(), value.strip()))
    return lines[0], tuple(pairs), _body(tuple(pairs), body)


def _body(headers: Headers, body: bytes) -> bytes:
    if (header(headers, "transfer-encoding") or "").lower().endswith("chunked"):
        return _dechunk(body)
    length = header(headers, "content-length")
    if length is None:
        return body
    if not length.isdigit():
        raise _Bad(f"bad Content-Length {length!r}")
    if len(body) < int(length):
        raise _Bad(f"body of {len(body)} bytes, Content-Length says {length}")
    return body[: int(length)]


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    rest = body
    while True:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            raise _Bad("chunked body cut off")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise _Bad(f"bad chunk size {size_line[:20]!r}") from None
        if size == 0:
            return bytes(out)
        if len(rest) < size + 2:
            raise _Bad("chunked body cut off")
        out += rest[:size]
        rest = rest[size + 2 :]


def _kept(headers: Headers) -> Headers:
    return tuple((n, v) for n, v in headers if n.lower() not in _DROPPED)


def _request(message: bytes, started: float) -> RecordedExchange:
    line, headers, body = _split(message)
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _Bad(f"bad request line {line[:60]!r}")
    method, target, _version = parts
    if not target.startswith("/"):
        raise _Bad(f"request-target not in origin form: {target[:60]!r}")
    host, _, port = (header(headers, "host") or "127.0.0.1").partition(":")
    return RecordedExchange(
        method=method.upper(),
        target=target,
        headers=_kept(headers),
        body=body,
        host=host,
        port=int(port) if port.isdigit() else 80,
        started=started,
    )


def _response(message: bytes) -> RecordedResponse:
    line, headers, body = _split(message)
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise _Bad(f"bad status line {line[:60]!r}")
    encoding = (header(headers, "content-encoding") or "").strip().lower()
    if encoding in _DECODERS:
        # GoReplay keeps the bytes as sent; what is compared is what the client read
        try:
            body = zlib.decompress(body, _DECODERS[encoding])
        except zlib.error as exc:
            raise _Bad(f"{encoding} body does not decode: {exc}") from None
        headers = tuple((n, v) for n, v in headers if n.lower() != "content-encoding")
    return RecordedResponse(status=int(code), headers=_kept(headers), body=body, reason=reason)
