"""HAR 1.2 (the HTTP Archive browsers and proxies export): entries into exchanges.

Entries that cannot be replayed faithfully are skipped with the reason: a missing field the
replay needs, a body given only as base64 (binary) or only as form ``params``, a URL that is not
``http(s)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from parallel_run.errors import TrafficFileError
from parallel_run.traffic import Headers, RecordedExchange, RecordedResponse, Skipped

_DROPPED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class _Bad(Exception):
    """This entry cannot be replayed: the message is the reason."""


def read_har(path: Path, stream: BinaryIO) -> Iterator[RecordedExchange | Skipped]:
    raw = stream.read()
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise TrafficFileError(path, where=f"byte {exc.start}", reason="not UTF-8", read=0) from exc
    except json.JSONDecodeError as exc:
        raise TrafficFileError(
            path,
            where=f"line {exc.lineno} column {exc.colno} (byte {exc.pos})",
            reason=f"not valid JSON: {exc.msg}",
            read=0,
        ) from exc
    entries = document.get("log", {}).get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise TrafficFileError(path, where="$.log.entries", reason="not a HAR file", read=0)
    for index, entry in enumerate(entries, start=1):
        try:
            yield _exchange(entry)
        except _Bad as exc:
            yield Skipped(index, str(exc))


def _field(obj: Any, name: str, where: str) -> Any:
    if not isinstance(obj, Mapping) or name not in obj or obj[name] is None:
        raise _Bad(f"missing {where}.{name}")
    return obj[name]


def _headers(obj: Mapping[str, Any], where: str) -> Headers:
    pairs = []
    for item in _field(obj, "headers", where):
        name, value = _field(item, "name", f"{where}.headers[]"), item.get("value", "")
        if str(name).startswith(":") or str(name).lower() in _DROPPED:
            continue  # HTTP/2 pseudo-headers and framing: the replay frames its own messages
        pairs.append((str(name), str(value)))
    return tuple(pairs)


def _exchange(entry: Any) -> RecordedExchange:
    request = _field(entry, "request", "entry")
    method = str(_field(request, "method", "request")).upper()
    url = urlsplit(str(_field(request, "url", "request")))
    if url.scheme not in ("http", "https") or not url.hostname:
        raise _Bad(f"request.url is not an http(s) URL: {str(request['url'])[:80]!r}")
    body = b""
    post = request.get("postData")
    if isinstance(post, Mapping):
        if post.get("encoding") == "base64":
            raise _Bad("binary request body (postData encoded base64)")
        if post.get("text") is None:
            if post.get("params"):
                raise _Bad("request body given as postData.params only")
        else:
            body = str(post["text"]).encode("utf-8")
    response = _field(entry, "response", "entry")
    status = _field(response, "status", "response")
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise _Bad(f"response.status is not an HTTP status: {status!r}")
    content = _field(response, "content", "response")
    if content.get("encoding") == "base64":
        raise _Bad("binary response body (content encoded base64)")
    text = content.get("text")
    if text is None and content.get("size", 0) not in (0, -1):
        raise _Bad("missing response.content.text (the body was not recorded)")
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return RecordedExchange(
        method=method,
        target=target,
        headers=_headers(request, "request"),
        body=body,
        response=RecordedResponse(
            status=status,
            headers=_headers(response, "response"),
            body=str(text or "").encode("utf-8"),
            reason=str(response.get("statusText", "")),
        ),
        scheme=url.scheme,
        host=url.hostname,
        port=url.port or (443 if url.scheme == "https" else 80),
    )
