"""What `strangler data capture|sync|status` say when routes.yaml points the sync at a database it
cannot use: a dialect strangler_sync has no SQL for is named with routes.yaml's line of
``data.sync.capture`` (not ``unexpected failure: ModuleNotFoundError``), an unknown capability
gets a PATH:LINE too, and a database URL's password appears in no message or report."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.strangler_cli import STRANGLER

pytestmark = pytest.mark.e2e

SECRET = "secret"
ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}
services:
  inventory: {url: "http://127.0.0.1:8102"}
capabilities:
  inventory:
    match: [{methods: [GET], path: "/api/inventory/{sku}"}]
    service: inventory
    mode: shadow
    data:
      source: legacy_monolith.data:stock
      translate: acl.inventory_rows:stock_row_from_legacy
      target: extracted.inventory.data:stock
      sync:
        capture: hand_written_capture:capture
        key_param: sku
store:
  url: sqlite:///state/strangler.db
"""
CAPTURE_LINE = ROUTES.splitlines().index("        capture: hand_written_capture:capture") + 1
# a monolith whose capture spec is written by hand (no Django), its URL from the environment
PLUGIN = """\
import os

from strangler_sync import Capture, CapturedTable, CaptureSpec


def capture() -> Capture:
    table = CapturedTable("stock", key="sku", columns=("sku", "qty"))
    return Capture(CaptureSpec("inventory", (table,)), os.environ["SHOP_DATABASE_URL"])
"""


def run(place: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "SHOP_DATABASE_URL": url}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(place), env.get("PYTHONPATH")]))
    return subprocess.run(
        [STRANGLER, *args, "--routes", str(place / "routes.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=place,
        env=env,
        check=False,
    )


@pytest.fixture
def place(tmp_path: Path) -> Path:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    (tmp_path / "hand_written_capture.py").write_text(PLUGIN)
    return tmp_path


@pytest.mark.parametrize("verb", [("data", "capture"), ("data", "sync", "--once")])
def test_a_dialect_without_sync_sql_is_named_at_its_routes_line(
    place: Path, verb: tuple[str, ...]
) -> None:
    done = run(place, f"mysql://shop:{SECRET}@127.0.0.1:1/shop", *verb, "inventory")
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        f"{place / 'routes.yaml'}:{CAPTURE_LINE}: capabilities.inventory.data.sync.capture: "
        "data sync supports SQLite and PostgreSQL, not mysql"
    ) in done.stderr
    assert "unexpected failure" not in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_data_status_reports_the_unsupported_dialect_without_the_password(place: Path) -> None:
    done = run(place, f"mysql://shop:{SECRET}@127.0.0.1:1/shop", "data", "status", "inventory")
    assert done.returncode == 0, done.stderr  # a report
    assert "not mysql" in done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_an_unknown_capability_is_named_with_a_line(place: Path) -> None:
    done = run(place, "sqlite:///shop.db", "data", "capture", "nope")
    assert done.returncode == 2
    assert f"{place / 'routes.yaml'}:5: unknown capability 'nope'" in done.stderr


def test_an_unreachable_postgresql_leaks_no_password(place: Path) -> None:
    url = f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/x"
    capture = run(place, url, "data", "capture", "inventory")
    assert capture.returncode == 1, capture.stdout + capture.stderr
    assert "127.0.0.1" in capture.stderr  # the place is named, the password is not
    status = run(place, url, "data", "status", "inventory", "--json")
    assert status.returncode == 0, status.stderr
    json.loads(status.stdout)
    for output in (capture.stdout, capture.stderr, status.stdout, status.stderr):
        assert SECRET not in output
