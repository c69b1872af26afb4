"""The shop's answer when a seam's new implementation cannot serve a write.

LegacyApiError (shop.errors)
 └── ServiceUnavailable     503 E503: ``strangler_django.ServiceUnavailable`` in legacy terms
"""

from __future__ import annotations

from legacy_monolith.shop.errors import LegacyApiError


class ServiceUnavailable(LegacyApiError):
    status = 503
    code = "E503"
