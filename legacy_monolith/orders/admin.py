from django.contrib import admin

from legacy_monolith.orders.models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("order_no", "customer", "status", "currency", "created_at")
    list_filter = ("status", "currency")
    search_fields = ("order_no", "customer__email")
    raw_id_fields = ("customer",)
    inlines = [OrderLineInline]
