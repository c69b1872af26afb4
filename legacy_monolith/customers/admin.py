from typing import TYPE_CHECKING

from django.contrib import admin

from legacy_monolith.customers.models import Customer

# ModelAdmin is generic only in django-stubs; at runtime it cannot be subscripted.
if TYPE_CHECKING:
    _Base = admin.ModelAdmin[Customer]
else:
    _Base = admin.ModelAdmin


@admin.register(Customer)
class CustomerAdmin(_Base):
    list_display = ("id", "full_name", "email", "vip", "created_at")
    list_filter = ("vip",)
    search_fields = ("full_name", "email")
