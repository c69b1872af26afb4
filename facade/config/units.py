"""Parsers for the human-friendly units used in routes.yaml: durations, sizes and percents."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_duration(value: object) -> float:
    """``"250ms"``, ``"2s"``, ``"5m"``, ``"24h"``, ``"7d"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 2s or 500ms, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration such as 2s, 500ms or 24h, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def parse_size(value: object) -> int:
    """``"10MB"``, ``"5MiB"``, ``"512kb"`` or a number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 10MB, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        size = int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])
    else:
        raise ValueError(f"expected a size such as 10MB or 512KiB, got {value!r}")
    if size < 0:
        raise ValueError(f"a size cannot be negative, got {value!r}")
    return size


def parse_percent(value: object) -> float:
    """``10``, ``12.5`` or ``"10%"`` -> a float in [0, 100]."""
    if isinstance(value, bool):
        raise ValueError(f"expected a percent between 0 and 100, got {value!r}")
    raw = value.strip().removesuffix("%") if isinstance(value, str) else value
    try:
        percent = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"expected a percent between 0 and 100, got {value!r}") from None
    if not 0 <= percent <= 100:
        raise ValueError(f"a percent must be between 0 and 100, got {value!r}")
    return percent
