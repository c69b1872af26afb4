"""Routes of the diagnostic echo endpoint; only included when STRANGLER_LEGACY_DEBUG_ECHO=1."""

from django.urls import path

from legacy_monolith.shop.debug_views import echo

urlpatterns = [
    path("_debug/echo", echo, name="debug-echo"),
    path("_debug/echo/<path:rest>", echo, name="debug-echo-rest"),
]
