"""The legacy monolith as it really runs: migrated, seeded, served by gunicorn on a real port."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest

from tests.support.processes import monolith as start_monolith

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # surface 3xx as HTTPError so the redirect itself can be checked


_opener = urllib.request.build_opener(_NoRedirect)


def call(
    base: str,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    request = urllib.request.Request(
        base + path, data=body, method=method, headers=dict(headers or {})
    )
    try:
        with _opener.open(request, timeout=30) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, error.read())


def call_json(base: str, path: str, payload: Any, *, method: str = "POST") -> Reply:
    return call(
        base,
        path,
        method=method,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )


@pytest.fixture(scope="module")
def monolith(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("legacy")
    # a smaller shop than the default seed, so the counts below stay small and exact
    running = start_monolith(
        state,
        log_dir=state,
        seed_args=["--products", "50", "--customers", "10", "--orders", "20"],
        echo=True,
    )
    try:
        yield running.url
    finally:
        running.stop(timeout=20)


def test_product_json_over_http(monolith: str) -> None:
    reply = call(monolith, "/api/products/SKU-00001")

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["X-Legacy-Version"] == "1"
    assert reply.json()["product"]["sku_item"] == "SKU-00001"

    listing = call(monolith, "/api/products?per_page=5").json()
    assert listing["count"] == 50
    assert len(listing["products"]) == 5


def test_errors_keep_the_legacy_shape(monolith: str) -> None:
    missing = call(monolith, "/api/definitely/not/here")
    assert missing.status == 404
    assert missing.json()["errCode"] == "E404"

    conflict = call_json(monolith, "/api/inventory/SKU-00001/reserve", {"qty": 10**6})
    assert conflict.status == 409
    assert conflict.json()["errCode"] == "E409"


def test_shop_redirect_and_login_cookies(monolith: str) -> None:
    redirect = call(monolith, "/shop")
    assert redirect.status == 301
    assert redirect.headers["Location"] == "/shop/"

    login = call(
        monolith,
        "/account/login",
        method="POST",
        body=b"username=demo&password=demo-password",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert login.status == 302
    cookies = login.headers.get_all("Set-Cookie") or []
    names = {cookie.split("=", 1)[0] for cookie in cookies}
    assert {"sessionid", "prefs", "last_visit"} <= names


def test_csv_export_is_chunked(monolith: str) -> None:
    reply = call(monolith, "/api/export/products.csv")
    assert reply.status == 200
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert reply.headers["Content-Length"] is None
    assert len(reply.body.decode().splitlines()) == 51


def test_five_megabyte_blob_download(monolith: str) -> None:
    size = 5 * 1024 * 1024
    reply = call(monolith, f"/api/blob?size={size}&seed=3", headers={"Accept-Encoding": "gzip"})
    assert reply.status == 200
    assert reply.headers["Content-Length"] == str(size)
    assert reply.headers["Content-Encoding"] is None
    assert hashlib.sha256(reply.body).hexdigest() == reply.headers["X-Content-SHA256"]


def test_upload_round_trip(monolith: str) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)

    upload = call(
        monolith,
        "/api/files",
        method="POST",
        body=payload,
        headers={"Content-Type": "application/x-test", "X-File-Name": "big.bin"},
    )

    assert upload.status == 201
    assert upload.json()["sha256"] == hashlib.sha256(payload).hexdigest()
    download = call(monolith, f"/api/files/{upload.json()['file_id']}")
    assert download.headers["Content-Length"] == str(len(payload))
    assert download.body == payload


def test_echo_shows_the_raw_request_target(monolith: str) -> None:
    reply = call(monolith, "/_debug/echo/a%2Fb/c?x=%20y", headers={"X-Probe": "1"})
    echoed = reply.json()
    assert echoed["raw_uri"] == "/_debug/echo/a%2Fb/c?x=%20y"
    assert echoed["query"] == "x=%20y"
    assert echoed["headers"]["HTTP_X_PROBE"] == "1"


def test_concurrent_reservations_never_oversell(monolith: str) -> None:
    created = call_json(
        monolith,
        "/api/products",
        {
            "sku_item": "RACE-1",
            "prodName": "Race",
            "unitPrice": 100,
            "curr": "EUR",
            "qty_on_hand": 5,
        },
    )
    assert created.status == 201

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(
            pool.map(
                lambda _: call_json(monolith, "/api/inventory/RACE-1/reserve", {"qty": 1}).status,
                range(24),
            )
        )

    assert sorted(set(statuses)) == [200, 409]
    assert statuses.count(200) == 5
    inventory = call(monolith, "/api/inventory/RACE-1").json()
    assert (inventory["qty_reserved"], inventory["qty_avail"]) == (5, 0)
