"""RFC 9457 problem details: the only shape of an error the facade itself answers."""

from __future__ import annotations

import json

from aiohttp import web

CONTENT_TYPE = "application/problem+json"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    request_id: str | None = None,
    extra: dict[str, object] | None = None,
) -> web.Response:
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
    headers = {"Cache-Control": "no-store"}
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type=CONTENT_TYPE,
        headers=headers,
    )
