"""The endpoint inventory file as read: where its errors are, how it is bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facade.config import load
from facade.config.endpoints import dump_inventory, parse_inventory
from facade.config.model import INVENTORY_MAX_BYTES_ENV
from facade.errors import ConfigError


def test_an_error_names_the_line_of_the_top_level_endpoints_even_after_an_earlier_one() -> None:
    # an "endpoints" key with a list inside an earlier value is not the inventory's own
    text = (
        '{"generated_by": {"endpoints": ["manage.py strangler_endpoints"]},\n'
        ' "version": 1, "endpoints": [\n'
        '  {"template": "/a"},\n'
        '  {"template": "/{"}\n'
        "]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_inventory(text, source="e.json")
    assert [(p.path, p.line) for p in caught.value.problems] == [("e.json", 4)]


def test_a_wrong_version_names_the_top_level_key_not_an_earlier_mention() -> None:
    text = '{"about": {"version": 1},\n "endpoints": [],\n "version": 2}\n'
    with pytest.raises(ConfigError) as caught:
        parse_inventory(text, source="e.json")
    assert [p.line for p in caught.value.problems] == [3]


def routes_naming(tmp_path: Path, inventory: str = "endpoints.json") -> Path:
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"version: 1\nlegacy:\n  url: http://127.0.0.1:9\n  endpoints: {inventory}\n")
    return routes


def inventory_problem(routes: Path) -> str:
    """What reading ``routes``' inventory reports (the routes file itself is fine)."""
    try:
        config = load(routes)
    except ConfigError as exc:
        return str(exc)
    return getattr(config, "inventory_problem", None) or ""


def test_an_inventory_over_its_size_limit_is_refused_unparsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = routes_naming(tmp_path)
    (tmp_path / "endpoints.json").write_text(dump_inventory([{"template": "/a"}] * 200))
    monkeypatch.setenv(INVENTORY_MAX_BYTES_ENV, "1000")
    problem = inventory_problem(routes)
    assert f"{tmp_path / 'endpoints.json'}:1: the file is" in problem
    assert "over the size limit of 1,000 bytes; refused without parsing it" in problem
    assert f"(${INVENTORY_MAX_BYTES_ENV} sets the limit)" in problem
    monkeypatch.setenv(INVENTORY_MAX_BYTES_ENV, "1MiB")
    assert load(routes).inventory is not None


def test_an_inventory_that_is_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    routes = routes_naming(tmp_path)
    os.mkfifo(tmp_path / "endpoints.json")  # opening it to read would block: no writer comes
    problem = inventory_problem(routes)
    assert "not a regular file: a FIFO" in problem
    assert "the endpoint inventory must be a regular file" in problem


@pytest.mark.parametrize("broken", ["missing", "not JSON"])
def test_an_inventory_that_cannot_be_used_is_a_problem_of_the_config_not_an_error(
    tmp_path: Path, broken: str
) -> None:
    routes = routes_naming(tmp_path)
    if broken == "not JSON":
        (tmp_path / "endpoints.json").write_text('{"version": 1,\n "endpoints": [}\n')
    config = load(routes)  # no ConfigError: the routes file is fine
    assert config.inventory is None
    expected = (
        f"{routes.resolve()}:4: legacy.endpoints: no file"
        if broken == "missing"
        else f"{tmp_path / 'endpoints.json'}:2: not JSON"
    )
    assert expected in (config.inventory_problem or "")


def test_the_fingerprint_tells_an_inventory_edit_from_a_touch(tmp_path: Path) -> None:
    routes = routes_naming(tmp_path)
    inventory = tmp_path / "endpoints.json"
    inventory.write_text(dump_inventory([{"template": "/a"}]))
    first = load(routes)
    os.utime(inventory, ns=(10**18, 10**18))
    assert load(routes).fingerprint == first.fingerprint
    inventory.write_text(dump_inventory([{"template": "/b"}]))
    edited = load(routes)
    assert edited.digest == first.digest  # routes.yaml itself did not change
    assert edited.fingerprint != first.fingerprint
    inventory.unlink()
    assert load(routes).fingerprint != edited.fingerprint
