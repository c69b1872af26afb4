"""Cross-cutting response tweaks of the legacy shop."""

from __future__ import annotations

from collections.abc import Callable

from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware

API_PREFIX = "/api/"

# Already-compressed or opaque payloads: gzip would only cost CPU, and it would replace the
# Content-Length that download clients rely on with chunked encoding.
_NO_GZIP_TYPES = ("application/octet-stream", "application/zip", "image/", "video/", "audio/")


class LegacyVersionHeaderMiddleware:
    """Every API response carries ``X-Legacy-Version: 1`` (old mobile apps check it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX):
            response["X-Legacy-Version"] = "1"
        return response


class SelectiveGZipMiddleware(GZipMiddleware):
    """Django's GZipMiddleware, minus file downloads and binary payloads."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if isinstance(response, FileResponse):
            return response
        content_type = response.get("Content-Type", "")
        if content_type.startswith(_NO_GZIP_TYPES):
            return response
        return super().process_response(request, response)
