"""Domain errors that carry their legacy error code, so views never pick status codes by hand."""

from __future__ import annotations


class LegacyApiError(Exception):
    """Rendered as ``{"result": "error", "errCode": ..., "errMsg": ...}`` with ``status``."""

    status = 500
    code = "E500"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(LegacyApiError):
    status = 400
    code = "E400"


class NotFound(LegacyApiError):
    status = 404
    code = "E404"


class MethodNotAllowed(LegacyApiError):
    status = 405
    code = "E405"


class Conflict(LegacyApiError):
    status = 409
    code = "E409"


class PayloadTooLarge(LegacyApiError):
    status = 413
    code = "E413"
