"""HTTP plumbing shared by the legacy JSON endpoints: envelopes, errors, body and query."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from legacy_monolith.shop.errors import InvalidInput, LegacyApiError, PayloadTooLarge

LEGACY_DATE_FORMAT = "%d/%m/%Y"


def legacy_date(moment: datetime) -> str:
    """The legacy API speaks local calendar dates (Europe/Paris), never instants."""
    return timezone.localtime(moment).strftime(LEGACY_DATE_FORMAT)


def ok(payload: Mapping[str, Any], *, status: int = 200) -> JsonResponse:
    return JsonResponse({"result": "ok", **payload}, status=status)


def error_response(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"result": "error", "errCode": code, "errMsg": message}, status=status)


def error_from(exc: LegacyApiError) -> JsonResponse:
    return error_response(exc.code, exc.message, exc.status)


def parse_json_object(request: HttpRequest) -> dict[str, Any]:
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise PayloadTooLarge("request body too large") from exc
    if not raw.strip():
        raise InvalidInput("request body must be a JSON object")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return data


def query_int(
    request: HttpRequest, name: str, *, default: int | None = None, minimum: int = 1
) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        if default is None:
            raise InvalidInput(f"query parameter {name} is required")
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidInput(f"query parameter {name} must be an integer") from exc
    if value < minimum:
        raise InvalidInput(f"query parameter {name} must be >= {minimum}")
    return value


@method_decorator(csrf_exempt, name="dispatch")
class LegacyApiView(View):
    """Base for legacy endpoints: csrf-exempt (mobile clients send no token) and error-shaped.

    Subclasses define get/post/put/patch/delete; anything a service raises as a
    ``LegacyApiError`` becomes the legacy error envelope with the matching status.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        except LegacyApiError as exc:
            return error_from(exc)

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = error_response(
            "E405", f"method {request.method} not allowed on {request.path}", 405
        )
        # What View._allowed_methods() computes; that helper is private and not in the stubs.
        allowed = [m.upper() for m in self.http_method_names if hasattr(self, m)]
        response["Allow"] = ", ".join(allowed)
        return response
