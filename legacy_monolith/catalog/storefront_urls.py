from django.urls import path
from django.views.generic import RedirectView

from legacy_monolith.catalog import views

urlpatterns = [
    # Explicit rather than left to APPEND_SLASH, so the 301 does not depend on that setting.
    path("shop", RedirectView.as_view(url="/shop/", permanent=True, query_string=True)),
    path("shop/", views.storefront, name="storefront"),
]
