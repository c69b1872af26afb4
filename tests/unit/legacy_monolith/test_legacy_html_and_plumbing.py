"""HTML side (home, shop, login cookies), gzip, and the debug echo endpoint."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_user() -> Any:
    return get_user_model().objects.create_user("demo", password="demo-password")


def test_home_is_html(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Legacy Shop" in response.content


def test_shop_without_slash_is_a_permanent_redirect(client: Client) -> None:
    response = client.get("/shop")
    assert response.status_code == 301
    assert response["Location"] == "/shop/"


def test_shop_lists_the_first_20_active_products(client: Client, make_product: Any) -> None:
    make_product("SKU-00000", name="Retired Stool", active=False)
    for number in range(1, 26):
        make_product(f"SKU-{number:05d}", name=f"Chair {number:02d}")

    response = client.get("/shop/")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<li data-sku=") == 20
    assert "Chair 20" in html
    assert "Chair 21" not in html
    assert "Retired Stool" not in html


def test_login_sets_several_cookies_and_redirects(client: Client, demo_user: Any) -> None:
    response = client.post("/account/login", {"username": "demo", "password": "demo-password"})

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    # Each cookie becomes its own Set-Cookie header on the wire.
    assert {"sessionid", "prefs", "last_visit"} <= set(response.cookies)
    assert response.cookies["prefs"].value == "lang%3Den"
    assert response.cookies["prefs"]["path"] == "/"
    last_visit = response.cookies["last_visit"]
    assert last_visit["httponly"] is True
    assert last_visit["samesite"] == "Lax"

    greeting = client.get("/account/")
    assert greeting.status_code == 200
    assert b"Hello, demo!" in greeting.content


def test_bad_credentials_are_401_html(client: Client, demo_user: Any) -> None:
    response = client.post("/account/login", {"username": "demo", "password": "nope"})
    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/html")
    assert "sessionid" not in response.cookies


def test_account_page_redirects_anonymous_users_to_login(client: Client) -> None:
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"] == "/account/login"


def test_json_is_gzipped_when_the_client_accepts_it(client: Client, make_product: Any) -> None:
    for number in range(1, 11):
        make_product(f"SKU-{number:05d}")

    plain = client.get("/api/products")
    zipped = client.get("/api/products", headers={"Accept-Encoding": "gzip"})

    assert not plain.has_header("Content-Encoding")
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    unzipped = json.loads(gzip.decompress(zipped.content))
    # generated_at is the microsecond each page was built: the one field allowed to differ
    assert unzipped.pop("generated_at") != plain.json().pop("generated_at")
    assert unzipped == {k: v for k, v in plain.json().items() if k != "generated_at"}


def test_binary_downloads_are_never_gzipped(client: Client) -> None:
    response = client.get("/api/blob", {"size": 5000}, headers={"Accept-Encoding": "gzip"})
    assert not response.has_header("Content-Encoding")
    assert response["Content-Length"] == "5000"


def test_debug_echo_is_not_routed_by_default(client: Client) -> None:
    assert client.get("/_debug/echo").status_code == 404
    assert client.post("/_debug/echo/a/b", b"x", content_type="text/plain").status_code == 404


@pytest.mark.urls("legacy_monolith.shop.debug_urls")
def test_debug_echo_reflects_the_request(client: Client) -> None:
    body = b'{"hello": "world"}'

    response = client.post(
        "/_debug/echo/deep/path?a=1&b=%20",
        body,
        content_type="application/json",
        headers={"X-Trace": "abc"},
    )

    echoed = response.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/_debug/echo/deep/path"
    assert echoed["query"] == "a=1&b=%20"
    assert echoed["headers"]["HTTP_X_TRACE"] == "abc"
    assert echoed["headers"]["CONTENT_TYPE"] == "application/json"
    assert echoed["headers"]["CONTENT_LENGTH"] == str(len(body))
    assert echoed["body_bytes"] == len(body)
    assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert "raw_uri" in echoed
