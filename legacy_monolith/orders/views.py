"""Thin HTTP adapters for orders."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from legacy_monolith.customers.selectors import customer_get
from legacy_monolith.orders import selectors, services
from legacy_monolith.orders.legacy_json import (
    order_to_legacy,
    parse_new_order,
    parse_status_change,
)
from legacy_monolith.shop.legacy_api import LegacyApiView, ok, parse_json_object, query_int


def _order_response(order_no: str, *, status: int = 200) -> JsonResponse:
    # Re-read so the response shows exactly what was committed (with lines prefetched).
    return ok({"order": order_to_legacy(selectors.order_get(order_no))}, status=status)


class OrderCollectionView(LegacyApiView):
    def get(self, request: HttpRequest) -> JsonResponse:
        customer = customer_get(query_int(request, "cust_id"))
        orders = selectors.orders_for_customer(customer.pk)
        return ok({"count": len(orders), "orders": [order_to_legacy(o) for o in orders]})

    def post(self, request: HttpRequest) -> JsonResponse:
        customer_id, lines = parse_new_order(parse_json_object(request))
        order = services.place_order(customer_id=customer_id, lines=lines)
        response = _order_response(order.order_no, status=201)
        response["Location"] = f"/api/orders/{order.order_no}"
        return response


class OrderDetailView(LegacyApiView):
    def get(self, request: HttpRequest, order_no: str) -> JsonResponse:
        return _order_response(order_no)

    def patch(self, request: HttpRequest, order_no: str) -> JsonResponse:
        selectors.order_get(order_no)  # unknown order is a 404 even when the body is also bad
        new_status = parse_status_change(parse_json_object(request))
        services.change_order_status(order_no, new_status)
        return _order_response(order_no)

    def delete(self, request: HttpRequest, order_no: str) -> HttpResponse:
        services.delete_order(order_no)
        return HttpResponse(status=204)


class OrderCancelView(LegacyApiView):
    def post(self, request: HttpRequest, order_no: str) -> JsonResponse:
        services.cancel_order(order_no)
        return _order_response(order_no)
