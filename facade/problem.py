"""RFC 9457 problem details: the only shape of an error the facade itself answers."""

from __future__ import annotations

import json
from http import HTTPStatus

from aiohttp import web

CONTENT_TYPE = "application/problem+json"


def problem_json(
    status: int,
    title: str,
    detail: str,
    *,
    request_id: str | None = None,
    extra: dict[str, object] | None = None,
) -> bytes:
    """The problem document itself: one shape for every error the facade answers."""
    body: dict[str, object] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request_id is not None:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return json.dumps(body).encode()


def problem_bytes(status: int, detail: str, *, retry_after: int | None = None) -> bytes:
    """A whole problem+json response that closes the connection, for writing on a transport
    where no request object exists (the header deadline passed before a request was parsed,
    a connection refused at accept)."""
    phrase = HTTPStatus(status).phrase
    body = problem_json(status, phrase, detail)
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        + (f"Retry-After: {retry_after}\r\n" if retry_after is not None else "")
        + "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    request_id: str | None = None,
    extra: dict[str, object] | None = None,
) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    return web.Response(
        status=status,
        body=problem_json(status, title, detail, request_id=request_id, extra=extra),
        content_type=CONTENT_TYPE,
        headers=headers,
    )
