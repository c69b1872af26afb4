"""Read-only queries for stored files."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from legacy_monolith.files.models import StoredFile
from legacy_monolith.shop.errors import NotFound


def stored_file_get(file_id: int) -> StoredFile:
    try:
        return StoredFile.objects.get(pk=file_id)
    except StoredFile.DoesNotExist as exc:
        raise NotFound(f"file {file_id} not found") from exc


def stored_file_disk_path(stored: StoredFile) -> Path:
    return Path(settings.LEGACY_MEDIA_ROOT) / stored.path
