"""Errors of the routes.yaml model: a file that cannot be used, a request-target that cannot be
matched. The root of the facade's errors lives here so that this package imports nothing above it.

FacadeError
 ├── ConfigError (ValueError)        routes.yaml is invalid: every problem, with file and line
 └── RequestRejected                 the client's request is unsafe or malformed: answered 4xx
      └── PathRejected               ambiguous or malicious request-target (400)

``facade.errors`` re-exports them with the errors of the proxy itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


class FacadeError(Exception):
    """Root of every error the facade raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a routes file, located for a human: ``PATH:LINE: message``."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ConfigError(FacadeError, ValueError):
    """routes.yaml cannot be used; ``problems`` lists each error with its file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.path, p.line))
        super().__init__("\n".join(str(p) for p in self.problems))


class RequestRejected(FacadeError):
    """The request is refused before any upstream sees it."""

    status = 400
    title = "Bad Request"
    retry_after: int | None = None  # seconds, for a refusal that a later try may not get

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class PathRejected(RequestRejected):
    """The request-target is ambiguous (encoded slash, dot-segment tricks) or malformed."""


QUOTE_LIMIT = 80


def quoted(value: object, *, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters.

    Never the repr of the whole value: a routes.yaml value can be a 4 MB string or a list an
    alias expanded a million times, and quoting it in full once froze the facade and ended in
    ``MemoryError``. The cost is bounded by ``limit``, whatever the value's size.
    """
    return cut(_bounded_repr(value, limit + 1), limit)


def cut(text: str, limit: int) -> str:
    """``text`` of at most ``limit`` characters: an error message never carries a large input."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bounded_repr(value: object, budget: int) -> str:
    # each nesting level spends at least one character, so recursion stops within ``budget``
    if budget <= 0:
        return ""
    if isinstance(value, str):
        return repr(value[:budget])[:budget]
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)[:budget]
    if isinstance(value, int):
        # str() of a huge int is slow, and refused past 4,300 digits
        return repr(value)[:budget] if value.bit_length() <= 256 else "<a very large integer>"
    if isinstance(value, dict):
        pieces: Iterator[tuple[object, ...]] = iter(value.items())
        opening, separator, closing = "{", ": ", "}"
    elif isinstance(value, list | tuple):
        pieces = ((item,) for item in value)
        opening, separator, closing = "[", "", "]"
    else:
        return f"<{type(value).__name__}>"[:budget]
    out = opening
    for piece in pieces:
        if len(out) >= budget:
            break
        out += separator.join(_bounded_repr(part, budget - len(out)) for part in piece) + ", "
    return (out.removesuffix(", ") + closing)[:budget]
