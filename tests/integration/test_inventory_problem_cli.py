"""A missing or broken endpoint inventory only reports: the verbs that change routing go on with
a warning, ``validate`` catches it before deploy, ``map``, ``plan`` and ``retire`` refuse it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.strangler_cli import run, write_routes

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:9", endpoints: endpoints.json}
services:
  catalog: {url: "http://127.0.0.1:9"}
capabilities:
  products:
    match: [{path: "/api/products"}]
    service: catalog
    mode: canary
    canary: {percent: 5}
store:
  url: sqlite:///store.db
"""


def cli(*args: str, routes: Path) -> subprocess.CompletedProcess[str]:
    return run(*args, routes=routes, cwd=routes.parent)


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    return write_routes(tmp_path, ROUTES)  # endpoints.json is not there: moved away


def test_a_rollback_goes_through_with_a_warning(routes: Path) -> None:
    done = cli("rollback", "products", routes=routes)
    assert done.returncode == 0, done.stderr
    assert "warning: the endpoint inventory (legacy.endpoints) cannot be used" in done.stderr
    assert f"{routes.resolve()}:2: legacy.endpoints: no file" in done.stderr
    assert "mode: shadow" in routes.read_text()


def test_validate_reports_it_as_an_error(routes: Path) -> None:
    done = cli("validate", routes=routes)
    assert done.returncode == 2
    assert f"{routes.resolve()}:2: legacy.endpoints: no file" in done.stderr
    assert "OK" not in done.stdout


@pytest.mark.parametrize(
    ("verb", "args"),
    [("map", ()), ("plan", ("rollback", "products")), ("retire", ("products",))],
)
def test_map_plan_and_retire_refuse_naming_it(
    routes: Path, verb: str, args: tuple[str, ...]
) -> None:
    (routes.parent / "endpoints.json").write_text(
        '{"version": 1,\n "endpoints": [{"template": 3}]}'
    )
    before = routes.read_text()
    done = cli(verb, *args, routes=routes)
    assert done.returncode == 2, done.stderr
    assert (
        f"strangler {verb}: the endpoint inventory (legacy.endpoints) cannot be used" in done.stderr
    )
    assert f"{routes.parent / 'endpoints.json'}:2: endpoints[0]" in done.stderr
    assert routes.read_text() == before
