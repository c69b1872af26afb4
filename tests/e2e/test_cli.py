"""The ``strangler`` command as a user runs it: exit codes, messages, --json, --routes anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import processes

pytestmark = pytest.mark.e2e
STRANGLER = str(Path(sys.executable).parent / "strangler")
ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}
services:
  catalog: {url: "http://127.0.0.1:8101"}
capabilities:
  product-catalog:
    match: [{methods: [GET], path: "/api/products/{sku}"}]
    service: catalog
    mode: canary
    canary: {percent: 25}
"""


def run(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_validate_accepts_the_shipped_routes_file() -> None:
    result = run("validate")
    assert result.returncode == 0, result.stderr
    assert "routes.yaml: OK" in result.stdout


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", 1),
        (
            "version: 1\nlegacy: {url: 'http://x:1'}\ncapabilities:\n  a:\n"
            "    match: [{path: /a}]\n    mode: sideways\n",
            6,
        ),
        ("version: 1\nlegacy: {url: 'http://x:1'\n", 3),
        ("version: 1\nlegacy: {url: 'http://x:1', timeout: forever}\n", 2),
    ],
)
def test_validate_and_serve_report_bad_files_as_path_line_and_exit_2(
    tmp_path: Path, text: str, line: int
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(text)
    for args in (("validate", str(routes)), ("serve", "--routes", str(routes), "--port", "1")):
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(f"{routes}:{line}: "), result.stderr
        assert "Traceback" not in result.stderr


def test_routes_can_come_before_or_after_the_verb_or_from_the_environment(tmp_path: Path) -> None:
    routes = tmp_path / "elsewhere.yaml"
    routes.write_text(GOOD)
    for args, env in (
        (("--routes", str(routes), "status", "--json"), None),
        (("status", "--json", "--routes", str(routes)), None),
        (("status", "--json"), {"STRANGLER_ROUTES": str(routes)}),
    ):
        result = run(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        assert status["routes"] == str(routes)


def test_status_json_lists_each_capability_with_its_mode(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(GOOD)
    result = run("status", "--json", "--routes", str(routes))
    assert result.returncode == 0
    (cap,) = json.loads(result.stdout)["capabilities"]
    assert cap["name"] == "product-catalog"
    assert cap["mode"] == "canary"
    assert cap["percent"] == 25
    assert cap["service"] == "catalog"


def test_status_table_shows_modes_as_written(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(GOOD)
    result = run("status", "--routes", str(routes), env={"COLUMNS": "160"})
    assert result.returncode == 0
    assert "product-catalog" in result.stdout
    assert "canary" in result.stdout


def test_a_missing_routes_file_is_bad_input(tmp_path: Path) -> None:
    result = run("status", cwd=tmp_path)
    assert result.returncode == 2
    assert "routes.yaml:1: cannot read the file" in result.stderr


def test_an_unknown_verb_or_option_is_bad_input() -> None:
    assert run("frobnicate").returncode == 2
    assert run("status", "--jsn").returncode == 2


def test_serve_runs_until_stopped(tmp_path: Path) -> None:
    routes = processes.write_routes(tmp_path / "routes.yaml", "http://127.0.0.1:9")
    facade = processes.facade(routes, log_dir=tmp_path)
    assert facade.stop() == 0
    assert "facade stopped" in facade.log()


def test_a_translator_that_cannot_be_loaded_is_a_path_line_error(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(GOOD + "    translator: catalog.prodcuts\n")
    result = run("validate", str(routes))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{routes}:11: capabilities.product-catalog.translator:")
    assert "catalog.prodcuts" in result.stderr
    routes.write_text(GOOD + "    translator: catalog.products\n")
    assert run("validate", str(routes)).returncode == 0
