"""JSON in and out of the translators, shared by every capability's pair.

Readers name the JSON path of what they reject (``$.price.amount``), so a ``TranslationError``
says which field of which answer broke the translation. Writers answer as the monolith does:
its ``JsonResponse`` bytes and headers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from acl.errors import TranslationError
from acl.http import HttpResponseData, Pairs

# What the monolith sends with every /api/ answer (JsonResponse + LegacyVersionHeaderMiddleware).
LEGACY_HEADERS: Final[Pairs] = (("Content-Type", "application/json"), ("X-Legacy-Version", "1"))


def get_field(obj: Mapping[str, object], key: str, at: str) -> object:
    if key not in obj:
        raise TranslationError(field=f"{at}.{key}", value=None, reason="missing")
    return obj[key]


def as_object(value: object, at: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise TranslationError(field=at, value=value, reason="not a JSON object")
    return value


def str_field(obj: Mapping[str, object], key: str, at: str) -> str:
    value = get_field(obj, key, at)
    if not isinstance(value, str):
        raise TranslationError(field=f"{at}.{key}", value=value, reason="not a string")
    return value


def int_field(obj: Mapping[str, object], key: str, at: str, *, minimum: int | None = None) -> int:
    value = get_field(obj, key, at)
    # bool is an int subclass, and true is not a quantity
    if isinstance(value, bool) or not isinstance(value, int):
        raise TranslationError(field=f"{at}.{key}", value=value, reason="not an integer")
    if minimum is not None and value < minimum:
        raise TranslationError(field=f"{at}.{key}", value=value, reason=f"below {minimum}")
    return value


def json_object(body: bytes) -> Mapping[str, object]:
    """The JSON object in ``body`` (a service's answer), or a TranslationError at ``$``."""
    try:
        parsed: object = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise TranslationError(field="$", value=body[:80], reason="not JSON") from None
    return as_object(parsed, "$")


def legacy_json(status: int, payload: Mapping[str, object]) -> HttpResponseData:
    # json.dumps defaults are what Django's JsonResponse writes: same bytes, same key order
    return HttpResponseData(
        status=status, headers=LEGACY_HEADERS, body=json.dumps(payload).encode()
    )


def legacy_error(status: int, message: str) -> HttpResponseData:
    """The monolith's error answer: ``{"result": "error", "errCode": "E<status>", "errMsg"}``."""
    return legacy_json(status, {"result": "error", "errCode": f"E{status}", "errMsg": message})
