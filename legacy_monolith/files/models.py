from __future__ import annotations

from django.db import models
from django.utils import timezone


class StoredFile(models.Model):
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Relative to STRANGLER_LEGACY_MEDIA, so the media directory can move.
    path = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.pk}: {self.name} ({self.size} bytes)"
