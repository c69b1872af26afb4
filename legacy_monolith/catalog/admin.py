from django.contrib import admin

from legacy_monolith.catalog.models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "unit_price_cents", "currency", "stock", "reserved", "active")
    list_filter = ("active", "currency")
    search_fields = ("sku", "name")
