"""Thin HTTP adapters for the catalog: parse legacy input, call a service/selector, shape output."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from acl.inventory import stock_to_legacy
from legacy_monolith.catalog import selectors, services
from legacy_monolith.catalog.csv_export import product_csv_chunks
from legacy_monolith.catalog.legacy_json import (
    inventory_to_legacy,
    parse_new_product,
    parse_product_changes,
    product_to_legacy,
)
from legacy_monolith.shop.legacy_api import LegacyApiView, ok, parse_json_object, query_int
from legacy_monolith.shop.payload import read_int

MAX_PER_PAGE = 200


class ProductCollectionView(LegacyApiView):
    def get(self, request: HttpRequest) -> JsonResponse:
        page = query_int(request, "page", default=1)
        # Legacy behaviour: oversized pages are clamped, not rejected; per_page echoes the clamp.
        per_page = min(query_int(request, "per_page", default=50), MAX_PER_PAGE)
        result = selectors.product_list(
            page=page,
            per_page=per_page,
            name_contains=request.GET.get("q", "").strip(),
            currency=request.GET.get("curr", "").strip(),
        )
        return ok(
            {
                "count": result.count,
                "page": result.page,
                "per_page": result.per_page,
                "products": [product_to_legacy(p) for p in result.products],
                # a legacy quirk clients have learned to ignore: when the page was built, to
                # the microsecond, so no two answers are byte-identical (parallel-run noise)
                "generated_at": timezone.localtime().strftime("%d/%m/%Y %H:%M:%S.%f"),
            }
        )

    def post(self, request: HttpRequest) -> JsonResponse:
        new = parse_new_product(parse_json_object(request))
        product = services.create_product(
            sku=new.sku,
            name=new.name,
            unit_price_cents=new.unit_price_cents,
            currency=new.currency,
            stock=new.stock,
        )
        response = ok({"product": product_to_legacy(product)}, status=201)
        response["Location"] = f"/api/products/{product.sku}"
        return response


class ProductDetailView(LegacyApiView):
    def get(self, request: HttpRequest, sku: str) -> JsonResponse:
        return ok({"product": product_to_legacy(selectors.product_get(sku))})

    def put(self, request: HttpRequest, sku: str) -> JsonResponse:
        return self._update(request, sku, partial=False)

    def patch(self, request: HttpRequest, sku: str) -> JsonResponse:
        return self._update(request, sku, partial=True)

    def delete(self, request: HttpRequest, sku: str) -> HttpResponse:
        services.deactivate_product(sku)
        return HttpResponse(status=204)

    def _update(self, request: HttpRequest, sku: str, *, partial: bool) -> JsonResponse:
        selectors.product_get(sku)  # unknown sku is a 404 even when the body is also bad
        changes = parse_product_changes(parse_json_object(request), sku=sku, partial=partial)
        return ok({"product": product_to_legacy(services.update_product(sku, changes))})


class InventoryView(LegacyApiView):
    def get(self, request: HttpRequest, sku: str) -> JsonResponse:
        return ok(inventory_to_legacy(selectors.product_get(sku)))


class InventoryReserveView(LegacyApiView):
    def post(self, request: HttpRequest, sku: str) -> JsonResponse:
        selectors.product_get(sku)
        qty = read_int(parse_json_object(request), "qty", minimum=1)
        return ok(stock_to_legacy(services.reserve_stock(sku, qty)))


class ProductCsvExportView(LegacyApiView):
    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        # No Content-Length on purpose: gunicorn then sends Transfer-Encoding: chunked.
        response = StreamingHttpResponse(product_csv_chunks(), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="products.csv"'
        return response


def storefront(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/storefront.html", {"products": selectors.storefront_products()})
