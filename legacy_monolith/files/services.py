"""Storing raw uploads: streamed to disk and hashed chunk by chunk, never held in memory."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction

from legacy_monolith.files.models import StoredFile
from legacy_monolith.shop.errors import PayloadTooLarge

DEFAULT_NAME = "upload.bin"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")


def clean_file_name(raw: str | None) -> str:
    """Keep the client's name for display only; it never becomes part of a disk path."""
    if not raw:
        return DEFAULT_NAME
    name = _UNSAFE_NAME_CHARS.sub("_", os.path.basename(raw.replace("\\", "/"))).strip()
    return name[:255] or DEFAULT_NAME


def store_upload(
    chunks: Iterable[bytes], *, name: str, content_type: str, max_bytes: int
) -> StoredFile:
    media_root = Path(settings.LEGACY_MEDIA_ROOT)
    media_root.mkdir(parents=True, exist_ok=True)
    relative = f"{uuid.uuid4().hex}.bin"
    target = media_root / relative
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"upload exceeds {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        partial.rename(target)
        with transaction.atomic():
            return StoredFile.objects.create(
                name=name,
                content_type=content_type or DEFAULT_CONTENT_TYPE,
                size=size,
                sha256=digest.hexdigest(),
                path=relative,
            )
    except BaseException:
        # A half-written or unrecorded file is garbage nobody can reach: remove it.
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise
