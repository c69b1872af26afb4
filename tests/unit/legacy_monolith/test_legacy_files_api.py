"""Raw uploads, downloads, the deterministic blob and the streamed CSV export."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import pytest
from django.test import Client

from legacy_monolith.files.models import StoredFile

pytestmark = pytest.mark.django_db


def streamed(response: Any) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def test_upload_then_download_round_trips(client: Client) -> None:
    payload = bytes(range(256)) * 1024 + b"tail"  # 256 KiB + 4: several 64 KiB chunks

    response = client.post(
        "/api/files", payload, content_type="image/x-test", headers={"X-File-Name": "a.bin"}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["result"] == "ok"
    assert body["bytes"] == len(payload)
    assert body["sha256"] == hashlib.sha256(payload).hexdigest()
    assert response["Location"] == f"/api/files/{body['file_id']}"
    stored = StoredFile.objects.get(pk=body["file_id"])
    assert (stored.name, stored.size) == ("a.bin", len(payload))

    download = client.get(f"/api/files/{body['file_id']}")
    assert download.status_code == 200
    assert download["Content-Type"] == "image/x-test"
    assert download["Content-Length"] == str(len(payload))
    assert streamed(download) == payload


def test_upload_name_from_query_is_reduced_to_a_base_name(client: Client) -> None:
    response = client.post(
        "/api/files?name=../../etc/passwd", b"x", content_type="application/octet-stream"
    )
    assert StoredFile.objects.get(pk=response.json()["file_id"]).name == "passwd"


def test_upload_over_the_limit_is_413_and_leaves_nothing(client: Client, settings: Any) -> None:
    settings.LEGACY_MAX_UPLOAD_BYTES = 1000

    response = client.post("/api/files", b"x" * 1001, content_type="application/octet-stream")

    assert response.status_code == 413
    assert response.json() == {
        "result": "error",
        "errCode": "E413",
        "errMsg": "upload exceeds 1000 bytes",
    }
    assert not StoredFile.objects.exists()
    media = settings.LEGACY_MEDIA_ROOT
    assert not media.exists() or not any(media.iterdir())


def test_unknown_file_is_404(client: Client) -> None:
    response = client.get("/api/files/12345")
    assert response.status_code == 404
    assert response.json()["errCode"] == "E404"


def test_blob_is_deterministic_with_length_and_digest(client: Client) -> None:
    first = client.get("/api/blob", {"size": 200_000, "seed": 7})
    again = client.get("/api/blob", {"size": 200_000, "seed": 7})
    other = client.get("/api/blob", {"size": 200_000, "seed": 8})

    data = streamed(first)
    assert first["Content-Type"] == "application/octet-stream"
    assert first["Content-Length"] == "200000"
    assert len(data) == 200_000
    assert first["X-Content-SHA256"] == hashlib.sha256(data).hexdigest()
    assert streamed(again) == data
    assert streamed(other) != data


@pytest.mark.parametrize(
    ("query", "status"),
    [({"size": 20 * 1024 * 1024 + 1}, 413), ({"size": "big"}, 400), ({}, 400)],
)
def test_blob_rejects_bad_sizes(client: Client, query: dict[str, Any], status: int) -> None:
    assert client.get("/api/blob", query).status_code == status


def test_products_csv_is_streamed(client: Client, make_product: Any) -> None:
    for number in range(1, 251):
        make_product(f"SKU-{number:05d}", name=f"Chair, model {number}")

    response = client.get("/api/export/products.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert not response.has_header("Content-Length")
    chunks = list(response.streaming_content)
    assert len(chunks) > 1  # produced incrementally, not as one buffered string
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert rows[0][:4] == ["sku_item", "prodName", "unitPrice", "curr"]
    assert len(rows) == 251
    assert rows[1][:2] == ["SKU-00001", "Chair, model 1"]
