"""Errors of the translation boundary.

    TranslationError (ValueError)   input that cannot be translated: the facade answers 502
     └── TranslatorNotFound (LookupError)   a routes.yaml ``translator:`` spec that names nothing

Every error carries ``field`` (where: a JSON path such as ``$.items[3].price.amount``, or
``status`` / ``method`` / ``path`` / ``query.<name>`` for the non-body parts of a message),
``value`` (what was there) and ``reason`` (why it cannot be translated).
"""

from __future__ import annotations

_MAX_VALUE_REPR = 80


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_REPR else text[: _MAX_VALUE_REPR - 3] + "..."


class TranslationError(ValueError):
    """An answer or request that cannot be translated; never half-translated, never a crash."""

    def __init__(self, *, field: str, value: object, reason: str) -> None:
        super().__init__(f"{field}: {reason} (got {_short(value)})")
        self.field = field
        self.value = value
        self.reason = reason


class TranslatorNotFound(TranslationError, LookupError):
    """Raised when routes.yaml is loaded, never per request: ``value`` is the spec."""

    def __init__(self, spec: str, *, reason: str) -> None:
        super().__init__(field="translator", value=spec, reason=reason)
        self.spec = spec
