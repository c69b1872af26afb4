from typing import TYPE_CHECKING

from django.contrib import admin

from legacy_monolith.orders.models import Order, OrderLine

# ModelAdmin and TabularInline are generic only in django-stubs; at runtime they cannot be
# subscripted.
if TYPE_CHECKING:
    _InlineBase = admin.TabularInline[OrderLine, Order]
    _AdminBase = admin.ModelAdmin[Order]
else:
    _InlineBase = admin.TabularInline
    _AdminBase = admin.ModelAdmin


class OrderLineInline(_InlineBase):
    model = OrderLine
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Order)
class OrderAdmin(_AdminBase):
    list_display = ("order_no", "customer", "status", "currency", "created_at")
    list_filter = ("status", "currency")
    search_fields = ("order_no", "customer__email")
    raw_id_fields = ("customer",)
    inlines = [OrderLineInline]
