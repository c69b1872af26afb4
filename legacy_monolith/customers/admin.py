from django.contrib import admin

from legacy_monolith.customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "full_name", "email", "vip", "created_at")
    list_filter = ("vip",)
    search_fields = ("full_name", "email")
