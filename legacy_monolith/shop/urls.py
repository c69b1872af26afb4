"""Root URLconf of the legacy shop."""

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("api/", include("legacy_monolith.catalog.urls")),
    path("api/", include("legacy_monolith.customers.urls")),
    path("api/", include("legacy_monolith.orders.urls")),
    path("api/", include("legacy_monolith.files.urls")),
    path("", include("legacy_monolith.catalog.storefront_urls")),
    path("", include("legacy_monolith.account.urls")),
]

if settings.LEGACY_DEBUG_ECHO:
    urlpatterns.append(path("", include("legacy_monolith.shop.debug_urls")))

handler400 = "legacy_monolith.shop.error_views.bad_request"
handler404 = "legacy_monolith.shop.error_views.page_not_found"
handler500 = "legacy_monolith.shop.error_views.server_error"
