"""`strangler retire CAP` as a user runs it: exit 3 naming what is unmet, then retired once the
store (written by the test) shows the conditions hold; the way back is closed after it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facade import config as config_module
from tests.support import retire_store as seed
from tests.support.strangler_cli import run, write_routes
from tests.support.sync_shop import inventory_data

pytestmark = pytest.mark.e2e

ROUTES = f"""\
version: 1
legacy: {{url: "http://127.0.0.1:8000"}}   # no legacy.endpoints: nothing counted per endpoint
services:
  inventory: {{url: "http://127.0.0.1:8102"}}
capabilities:
  stock:
    match: [{{path: "/api/stock"}}]
    service: inventory
    mode: extracted   # since Monday
{inventory_data()}store:
  url: sqlite:///store.db
"""


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    path = write_routes(tmp_path, ROUTES)
    return path


def test_retire_is_refused_until_its_conditions_hold_then_closes_the_way_back(
    routes: Path,
) -> None:
    refused = run("retire", "stock", "--json", routes=routes)
    assert refused.returncode == 3, refused.stderr
    assert "routes.yaml names no legacy.endpoints inventory" in refused.stderr
    assert "no record of its move to extracted" in refused.stderr
    assert "no back relay has reported" in refused.stderr
    assert json.loads(refused.stdout)["exit_code"] == 3
    assert routes.read_text() == ROUTES

    store = seed.open_store(routes)
    seed.ready_to_retire(store, "stock", now=datetime.now(UTC), service="inventory", sync=True)
    store.close()
    done = run("retire", "stock", "--window", "1d", routes=routes)

    assert done.returncode == 0, done.stderr
    assert "stock: retired in" in done.stdout
    cap = config_module.load(routes).routes.capabilities["stock"]
    assert (cap.retired, cap.fallback) == (True, "error")
    assert "# since Monday" in routes.read_text()
    listing = run("audit", "stock", routes=routes)
    assert "extracted -> retired" in listing.stdout

    back = run("data", "sync", "stock", "--direction", "back", "--once", routes=routes)
    assert back.returncode == 3
    assert "--direction back: 'stock' is retired; remove retired: true by hand" in back.stderr
    rollback = run("rollback", "stock", routes=routes)
    assert rollback.returncode == 3
    assert "retired; remove retired: true by hand, audited, to reopen" in rollback.stderr
    assert run("retire", "stock", routes=routes).stdout.startswith("stock: already retired")


def test_a_bad_window_is_bad_input(routes: Path) -> None:
    result = run("retire", "stock", "--window", "soon", routes=routes)
    assert result.returncode == 2
    assert "--window" in result.stderr


def test_with_an_inventory_and_its_tallies_no_fallback_is_shown_and_it_retires(
    tmp_path: Path,
) -> None:
    from datetime import timedelta

    from facade.config.endpoints import dump_inventory

    (tmp_path / "endpoints.json").write_text(
        dump_inventory([{"template": "/api/stock", "methods": ["GET"], "view": "shop.stock"}])
    )
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        ROUTES.replace(
            'legacy: {url: "http://127.0.0.1:8000"}   # no legacy.endpoints: nothing counted '
            "per endpoint",
            'legacy: {url: "http://127.0.0.1:8000", endpoints: endpoints.json}',
        )
    )
    now = datetime.now(UTC)
    store = seed.open_store(routes)
    seed.ready_to_retire(store, "stock", now=now, service="inventory", sync=True)
    # the monolith's answers from before the cutover, outside the window: no fallback
    seed.fell_back(store, "stock", at=now - timedelta(days=3), count=5)
    seed.served(
        store, "stock", at=now - timedelta(hours=2), by="inventory", count=60, endpoint="/api/stock"
    )
    store.close()

    done = run("retire", "stock", "--window", "1d", "--json", routes=routes)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    served = result["evidence"]["served"]
    assert (served["counting"], served["by_legacy"], served["by_service"]) == (True, 0, 100)
    assert result["unmet"] == []
    assert config_module.load(routes).routes.capabilities["stock"].retired
