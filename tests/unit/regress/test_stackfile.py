"""The stack file and mode overrides: what a team writes, and the errors it gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from facade import config as config_module
from regress import stackfile
from regress.errors import StackFileError
from regress.stack import ALL, ModeOverride, Stack, parse_mode
from tests.support.processes import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "strangler-stack.toml"
    path.write_text(text)
    return path


def test_a_stack_file_is_read_with_defaults(tmp_path: Path) -> None:
    spec = stackfile.load(
        write(
            tmp_path,
            '[monolith]\ncommand = ["gunicorn", "--bind", "127.0.0.1:{port}"]\n'
            '[services.catalog]\ncommand = ["catalog", "{port}"]\nready = ""\n'
            'setup = [["seed", "{state}"]]\n[env]\nDB = "{state}/db"\n',
        )
    )
    assert spec.monolith.ready == "/"
    assert spec.services["catalog"].ready is None  # an open port is enough
    assert spec.services["catalog"].setup == (("seed", "{state}"),)
    assert spec.env == {"DB": "{state}/db"}
    assert spec.root == tmp_path.resolve()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "[monolith] is required"),
        ("[monolith]\nready = '/'\n", "'command' is required"),
        ("[monolith]\ncommand = []\n", "command is empty"),
        ("[monolith]\ncommand = ['x']\nport = 1\n", "unknown key(s) port"),
        ("[monolith]\ncommand = ['x']\n[database]\n", "unknown table(s) database"),
        ("[monolith]\ncommand = 'gunicorn'\n", "must be a list of strings"),
        ("[monolith\n", "not TOML"),
        ("[monolith]\ncommand = ['x']\n[stack]\nstart_timeout = 0\n", "start_timeout"),
    ],
)
def test_a_bad_stack_file_names_the_file_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(StackFileError) as caught:
        stackfile.load(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_stack_file_says_what_it_is_for(tmp_path: Path) -> None:
    with pytest.raises(StackFileError, match="how to start the monolith"):
        stackfile.load(tmp_path / "absent.toml")


def test_placeholders_are_filled_and_unknown_ones_named() -> None:
    values = {"port": "8001", "state": "/tmp/s"}
    assert stackfile.expand("{state}/db:{port}", values, where="env.DB") == "/tmp/s/db:8001"
    assert stackfile.expand("{{literal}}", values, where="x") == "{literal}"
    with pytest.raises(StackFileError, match=r"env.DB: unknown placeholder \{prot\}"):
        stackfile.expand("{prot}", values, where="env.DB")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("extracted", (ALL, ModeOverride("extracted"))),
        ("product-catalog=shadow", ("product-catalog", ModeOverride("shadow"))),
        ("inventory=canary:50", ("inventory", ModeOverride("canary", 50.0))),
    ],
)
def test_mode_overrides_parse(text: str, expected: tuple[str, ModeOverride]) -> None:
    assert parse_mode(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sideways", "mode must be one of"),
        ("cap=shadow:5", "only canary takes a percent"),
        ("cap=canary:150", "between 0 and 100"),
        ("cap=canary:half", "not a percent"),
    ],
)
def test_bad_mode_overrides_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mode(text)


def test_the_stacks_routes_copy_still_finds_the_endpoint_inventory(tmp_path: Path) -> None:
    stack = Stack(
        ROOT / "routes.yaml", stackfile.load(ROOT / "strangler-stack.toml"), state_dir=tmp_path
    )
    shipped = config_module.load(ROOT / "routes.yaml")
    stack._write_routes(shipped, {"monolith": 18000, "catalog": 18101}, ["catalog"])
    copy = config_module.load(tmp_path / "routes.yaml")
    assert copy.inventory is not None
    assert Path(copy.inventory.source) == ROOT / "legacy_monolith" / "endpoints.json"
