from django.contrib import admin

from legacy_monolith.files.models import StoredFile


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "content_type", "size", "sha256", "created_at")
    search_fields = ("name", "sha256")
