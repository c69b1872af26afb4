from typing import TYPE_CHECKING

from django.contrib import admin

from legacy_monolith.catalog.models import Product

# ModelAdmin is generic only in django-stubs; at runtime it cannot be subscripted.
if TYPE_CHECKING:
    _Base = admin.ModelAdmin[Product]
else:
    _Base = admin.ModelAdmin


@admin.register(Product)
class ProductAdmin(_Base):
    list_display = ("sku", "name", "unit_price_cents", "currency", "stock", "reserved", "active")
    list_filter = ("active", "currency")
    search_fields = ("sku", "name")
