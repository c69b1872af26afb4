"""Errors of the seams: what the monolith answers when a new implementation cannot.

LegacyApiError (shop.errors)
 └── ServiceUnavailable     503 E503: a write whose new implementation failed, in ``new`` mode
SeamCallFailed (Exception)  the service could not be reached or its answer not translated
NotInService (Exception)    the service holds nothing for this call: the legacy side does
"""

from __future__ import annotations

from legacy_monolith.shop.errors import LegacyApiError


class ServiceUnavailable(LegacyApiError):
    status = 503
    code = "E503"


class SeamCallFailed(Exception):
    """A new implementation's service call failed (unreachable, timeout, 5xx, untranslatable);
    never a domain answer such as "insufficient stock", which is a LegacyApiError."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class NotInService(Exception):
    """The new side has no state for this call (a reservation made before the seam moved):
    in ``new`` mode the legacy implementation settles it; in an experiment it is recorded."""
