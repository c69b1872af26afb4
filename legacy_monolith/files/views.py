"""Thin HTTP adapters for raw uploads, downloads and the deterministic test blob."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, HttpRequest, JsonResponse, StreamingHttpResponse

from legacy_monolith.files.blob import blob_chunks, blob_sha256
from legacy_monolith.files.selectors import stored_file_disk_path, stored_file_get
from legacy_monolith.files.services import clean_file_name, store_upload
from legacy_monolith.shop.errors import NotFound, PayloadTooLarge
from legacy_monolith.shop.legacy_api import LegacyApiView, ok, query_int
from legacy_monolith.shop.request_body import declared_length, iter_body


class FileUploadView(LegacyApiView):
    def post(self, request: HttpRequest) -> JsonResponse:
        max_bytes: int = settings.LEGACY_MAX_UPLOAD_BYTES
        length = declared_length(request)
        if length is not None and length > max_bytes:
            # Refuse before reading a byte; the body is not ours to store.
            raise PayloadTooLarge(f"upload exceeds {max_bytes} bytes")
        stored = store_upload(
            iter_body(request),
            name=clean_file_name(request.headers.get("X-File-Name") or request.GET.get("name")),
            content_type=request.META.get("CONTENT_TYPE", ""),
            max_bytes=max_bytes,
        )
        response = ok(
            {"file_id": stored.pk, "bytes": stored.size, "sha256": stored.sha256}, status=201
        )
        response["Location"] = f"/api/files/{stored.pk}"
        return response


class FileDownloadView(LegacyApiView):
    def get(self, request: HttpRequest, file_id: int) -> FileResponse:
        stored = stored_file_get(file_id)
        try:
            handle = stored_file_disk_path(stored).open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"file {file_id} is gone from disk") from exc
        # FileResponse sets Content-Length from the open file and streams it in blocks.
        return FileResponse(handle, content_type=stored.content_type, filename=stored.name)


class BlobView(LegacyApiView):
    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        max_bytes: int = settings.LEGACY_MAX_BLOB_BYTES
        size = query_int(request, "size", minimum=0)
        if size > max_bytes:
            raise PayloadTooLarge(f"size must be <= {max_bytes}")
        seed = query_int(request, "seed", default=0, minimum=0)
        response = StreamingHttpResponse(
            blob_chunks(size, seed), content_type="application/octet-stream"
        )
        # Known up front, so clients get a Content-Length instead of chunked encoding.
        response["Content-Length"] = str(size)
        response["X-Content-SHA256"] = blob_sha256(size, seed)
        return response
