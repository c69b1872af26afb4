"""Thin HTTP adapters for customers."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from legacy_monolith.customers.legacy_json import customer_to_legacy
from legacy_monolith.customers.selectors import customer_get
from legacy_monolith.shop.legacy_api import LegacyApiView, ok


class CustomerDetailView(LegacyApiView):
    def get(self, request: HttpRequest, cust_id: int) -> JsonResponse:
        return ok({"customer": customer_to_legacy(customer_get(cust_id))})
