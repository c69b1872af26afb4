from typing import TYPE_CHECKING

from django.contrib import admin

from legacy_monolith.files.models import StoredFile

# ModelAdmin is generic only in django-stubs; at runtime it cannot be subscripted.
if TYPE_CHECKING:
    _Base = admin.ModelAdmin[StoredFile]
else:
    _Base = admin.ModelAdmin


@admin.register(StoredFile)
class StoredFileAdmin(_Base):
    list_display = ("id", "name", "content_type", "size", "sha256", "created_at")
    search_fields = ("name", "sha256")
