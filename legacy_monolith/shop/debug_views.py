"""``/_debug/echo``: reflects exactly what reached the monolith, for facade/proxy tests."""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from legacy_monolith.shop.request_body import iter_body

_RAW_CGI_HEADERS = ("CONTENT_TYPE", "CONTENT_LENGTH")


@csrf_exempt
def echo(request: HttpRequest, rest: str = "") -> JsonResponse:
    headers = {
        key: value
        for key, value in request.META.items()
        if isinstance(value, str) and (key.startswith("HTTP_") or key in _RAW_CGI_HEADERS)
    }
    digest = hashlib.sha256()
    size = 0
    for chunk in iter_body(request):
        digest.update(chunk)
        size += len(chunk)
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            # RAW_URI is gunicorn's untouched request target: shows what a proxy re-encoded.
            "raw_uri": request.META.get("RAW_URI"),
            "query": request.META.get("QUERY_STRING", ""),
            "headers": dict(sorted(headers.items())),
            "body_bytes": size,
            "body_sha256": digest.hexdigest(),
        }
    )
