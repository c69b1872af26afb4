"""Field readers for legacy JSON bodies; each raises InvalidInput naming the offending field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from legacy_monolith.shop.errors import InvalidInput


def read_int(data: Mapping[str, Any], key: str, *, minimum: int | None = None) -> int:
    if key not in data:
        raise InvalidInput(f"{key} is required")
    value = data[key]
    # bool is an int subclass; a legacy client sending true for a quantity is a bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{key} must be an integer")
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{key} must be >= {minimum}")
    return value


def read_str(data: Mapping[str, Any], key: str, *, max_length: int) -> str:
    if key not in data:
        raise InvalidInput(f"{key} is required")
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{key} must be a non-empty string")
    value = value.strip()
    if len(value) > max_length:
        raise InvalidInput(f"{key} must be at most {max_length} characters")
    return value


def read_flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, str) or value not in ("Y", "N"):
        raise InvalidInput(f'{key} must be "Y" or "N"')
    return value == "Y"


def legacy_flag(value: bool) -> str:
    return "Y" if value else "N"
