"""`strangler map`: the migration map from stored endpoint tallies, as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facade.config.endpoints import UNKNOWN_ENDPOINT, dump_inventory
from parallel_run.endpoint_traffic import EndpointTally, add_endpoint_tallies
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support.chromium import needs_chromium, rendered_dom, screenshot

pytestmark = pytest.mark.e2e
STRANGLER = str(Path(sys.executable).parent / "strangler")

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:8000", endpoints: endpoints.json}
services:
  catalog: {url: "http://127.0.0.1:8101"}
  reviews: {url: "http://127.0.0.1:8102"}
capabilities:
  product-catalog:
    match: [{methods: [GET, HEAD], path: "/api/products/{sku}"}]
    service: catalog
    mode: extracted
  reviews:
    match: [{methods: [GET], path: "/api/reviews"}]
    service: reviews
    mode: extracted
    fallback: error
    retired: true
store:
  url: sqlite:///state/strangler.db
"""

ENDPOINTS = [
    {"template": "/api/products/{sku}", "methods": ["GET", "HEAD"], "view": "shop.product"},
    {"template": "/api/orders", "methods": ["GET", "POST"], "view": "shop.orders"},
    {"template": "/cart", "methods": ["GET"], "view": "shop.cart"},
    {"template": "/api/reviews", "methods": ["GET"], "view": "shop.reviews"},
    {"template": "/account/export", "methods": None, "view": "shop.export"},
]
HOSTILE = "/x/<script>alert(1)</script>"


def tally(minute: datetime, endpoint: str, count: int, **fields: str) -> EndpointTally:
    return EndpointTally(
        minute,
        endpoint,
        fields.get("method", "GET"),
        fields.get("capability", ""),
        fields.get("served_by", "legacy"),
        count,
    )


def write_tallies(root: Path, tallies: list[EndpointTally]) -> None:
    store = ResultStore.open(f"sqlite:///{root}/state/strangler.db", redactor=Redactor())
    try:
        add_endpoint_tallies(store, tallies)
    finally:
        store.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """routes.yaml, its inventory, and three days of tallies: the products endpoint moved to
    its service on the second day; /account/export was never called."""
    (tmp_path / "routes.yaml").write_text(ROUTES)
    (tmp_path / "endpoints.json").write_text(dump_inventory(ENDPOINTS))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    days = [now - timedelta(days=2), now - timedelta(days=1), now - timedelta(minutes=5)]
    product = "/api/products/{sku}"
    write_tallies(
        tmp_path,
        [
            tally(days[0], product, 100, capability="product-catalog"),
            tally(days[1], product, 100, capability="product-catalog", served_by="catalog"),
            tally(days[2], product, 200, capability="product-catalog", served_by="catalog"),
            tally(days[0], "/api/orders", 150),
            tally(days[2], "/api/orders", 50, method="POST"),
            tally(days[1], "/cart", 60),
            tally(days[2], "/api/reviews", 40, capability="reviews", served_by="reviews"),
            tally(days[2], UNKNOWN_ENDPOINT, 30),
            tally(days[2], HOSTILE, 70),
            tally(now - timedelta(days=60), "/account/export", 5),  # outside 30 days
        ],
    )
    return tmp_path


def strangler(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, "--routes", str(root / "routes.yaml"), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "220", "NO_COLOR": "1"},
        check=False,
    )


def test_map_json_gives_shares_candidates_unused_and_deletable(project: Path) -> None:
    done = strangler(project, "map", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    totals = data["totals"]
    everything = 100 + 100 + 200 + 150 + 50 + 60 + 40 + 30 + 70
    assert totals["requests"] == everything
    assert totals["request_share_served_by_services"] == (100 + 200 + 40) / everything
    assert totals["endpoints"] == 5
    assert totals["endpoint_share_served_by_services"] == 2 / 5
    assert totals["unknown_requests"] == 30
    rows = {row["endpoint"]: row for row in data["endpoints"]}
    product = rows["/api/products/{sku}"]
    assert (product["owner"], product["mode"], product["requests"]) == (
        "product-catalog",
        "extracted",
        400,
    )
    assert product["service_share"] == 300 / 400
    assert product["share"] == 400 / everything
    assert [c["endpoint"] for c in data["candidates"]] == ["/api/orders", "/cart"]
    assert data["unused"] == ["/account/export"]
    assert data["deletable"] == ["/api/reviews"]
    assert [u["endpoint"] for u in data["unlisted"]] == [UNKNOWN_ENDPOINT, HOSTILE]
    points = data["series"]["points"]
    assert data["series"]["step"] == "day"
    assert sum(p["requests"] for p in points) == everything
    shares = [p["service_share"] for p in points if p["requests"]]
    assert shares[0] == 0.0  # the first day: the monolith served everything
    assert shares[-1] == (200 + 40) / (200 + 50 + 40 + 30 + 70)


def test_map_in_the_terminal_shows_the_endpoints_and_what_to_do(project: Path) -> None:
    done = strangler(project, "map")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "/api/products/{sku}" in out
    assert "next candidates" in out
    assert "no traffic in the window" in out
    assert "/account/export" in out
    assert "retired: deletable in the monolith" in out
    assert "30 requests" in out  # the unknown ones
    assert HOSTILE in out
    # owners and moments worded as plan words them (strangler.text)
    assert "product-catalog (extracted)" in out
    assert "reviews (extracted, retired)" in out
    assert " UTC (inventory " in out


def test_a_shorter_window_leaves_older_traffic_out(project: Path) -> None:
    done = strangler(project, "map", "--since", "1h", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["series"]["step"] == "hour"
    assert data["totals"]["requests"] == 200 + 50 + 40 + 30 + 70
    assert set(data["unused"]) == {"/cart", "/account/export"}


def test_decommission_lists_what_holds_the_monolith_up_and_exits_3(project: Path) -> None:
    done = strangler(project, "map", "--decommission")
    assert done.returncode == 3, done.stderr
    assert "still hold the monolith up" in done.stdout
    for endpoint in ("/api/products/{sku}", "/api/orders", "/cart", UNKNOWN_ENDPOINT, HOSTILE):
        assert endpoint in done.stdout
    assert "/api/reviews" not in done.stdout  # retired
    as_json = strangler(project, "map", "--decommission", "--json")
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["decommission"]["ready"] is False


def test_decommission_exits_0_when_only_retired_capabilities_had_traffic(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    (tmp_path / "endpoints.json").write_text(dump_inventory(ENDPOINTS))
    now = datetime.now(UTC)
    write_tallies(
        tmp_path,
        [
            tally(now, "/api/reviews", 40, capability="reviews", served_by="reviews"),
            # the facade has counted since before the window: this one is outside it
            tally(now - timedelta(days=31), "/api/orders", 3),
        ],
    )
    done = strangler(tmp_path, "map", "--decommission")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "can be switched off" in done.stdout


def test_decommission_without_a_store_refuses_for_want_of_evidence(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    (tmp_path / "endpoints.json").write_text(dump_inventory(ENDPOINTS))
    done = strangler(tmp_path, "map", "--decommission")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "no traffic counted since" in done.stdout
    assert "counted nothing yet" in done.stdout
    assert "can be switched off" not in done.stdout
    assert not (tmp_path / "state").exists()


def test_decommission_refuses_while_counting_began_inside_the_window(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    (tmp_path / "endpoints.json").write_text(dump_inventory(ENDPOINTS))
    began = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    write_tallies(
        tmp_path, [tally(began, "/api/reviews", 40, capability="reviews", served_by="reviews")]
    )
    done = strangler(tmp_path, "map", "--decommission", "--html", str(tmp_path / "map.html"))
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"the facade has counted only since {began:%Y-%m-%d %H:%M} UTC" in done.stdout
    assert "can be switched off" not in done.stdout
    assert "can be switched off" not in (tmp_path / "map.html").read_text()
    as_json = json.loads(strangler(tmp_path, "map", "--decommission", "--json").stdout)
    assert as_json["decommission"]["ready"] is False


def test_a_routes_file_without_an_inventory_is_bad_input_and_says_how_to_make_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES.replace(", endpoints: endpoints.json", ""))
    done = strangler(tmp_path, "map")
    assert done.returncode == 2
    assert "manage.py strangler_endpoints" in done.stderr
    assert "legacy" in done.stderr


@pytest.mark.parametrize("since", ["soon", "-1d"])
def test_a_bad_window_is_bad_input(project: Path, since: str) -> None:
    done = strangler(project, "map", "--since", since)
    assert done.returncode == 2
    assert "--since" in done.stderr


def test_map_without_a_store_has_no_traffic_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    (tmp_path / "endpoints.json").write_text(dump_inventory(ENDPOINTS))
    done = strangler(tmp_path, "map", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["totals"]["requests"] == 0
    assert len(data["unused"]) == 4  # every endpoint but the retired one
    assert not (tmp_path / "state").exists()


@needs_chromium
def test_map_html_renders_in_headless_chromium_with_its_picture(project: Path) -> None:
    page = project / "map.html"
    done = strangler(project, "map", "--html", str(page))
    assert done.returncode == 0, done.stderr
    dom = rendered_dom(page, profile=project / "chromium-profile")
    assert 'id="service-share-chart"' in dom
    assert 'class="services"' in dom  # a column of the share served by services
    assert "/api/products/{sku}" in dom
    assert "/account/export" in dom
    # a key from the store is text on the page, never markup
    assert "<script>" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert screenshot(page, project / "map.png", profile=project / "chromium-profile") > 10_000


def test_map_reads_an_older_store_without_migrating_it(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    (tmp_path / "endpoints.json").write_text(dump_inventory(ENDPOINTS))
    (tmp_path / "state").mkdir()
    database = tmp_path / "state" / "strangler.db"
    ResultStore.open(f"sqlite:///{database}", redactor=Redactor(), revision="0005").close()
    before = database.read_bytes()
    done = strangler(tmp_path, "map", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["requests"] == 0
    assert "revision 0005" in done.stderr
    refused = strangler(tmp_path, "map", "--decommission")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert database.read_bytes() == before
    store = ResultStore.open(f"sqlite:///{database}", redactor=Redactor(), revision="0005")
    try:
        assert store.current_revision() == "0005"
    finally:
        store.close()
