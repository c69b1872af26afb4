"""Reading request bodies as a stream, including chunked uploads Django would see as empty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, cast

from django.http import HttpRequest

CHUNK_SIZE = 64 * 1024


def declared_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    try:
        return int(raw)
    except ValueError:
        return None


def _is_chunked(request: HttpRequest) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def iter_body(request: HttpRequest, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the body in chunks without ever holding all of it.

    Django limits its stream to CONTENT_LENGTH, which is absent for chunked requests, so
    those would read as empty; gunicorn's wsgi.input already decodes chunking and ends at
    the terminating chunk (wsgi.input_terminated), so read it directly in that case.
    """
    stream: BinaryIO
    terminated = bool(request.META.get("wsgi.input_terminated"))
    if declared_length(request) is None and _is_chunked(request) and terminated:
        stream = cast(BinaryIO, request.META["wsgi.input"])
    else:
        stream = cast(BinaryIO, request)
    while chunk := stream.read(chunk_size):
        yield chunk
