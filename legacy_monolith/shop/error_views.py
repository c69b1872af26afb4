"""Error handlers: the legacy JSON error shape under /api/, Django's HTML pages elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from legacy_monolith.shop.legacy_api import error_response
from legacy_monolith.shop.middleware import API_PREFIX


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response("E400", "bad request", 400)
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response("E404", f"no such resource {request.path}", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        # The detail stays in the server log; clients only learn that it failed.
        return error_response("E500", "internal error", 500)
    return defaults.server_error(request)
