"""The ``strangler`` command as a user runs it: exit codes, messages, --json, --routes anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
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


def test_serve_with_two_workers_shares_the_port(tmp_path: Path) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", echo.url)
    facade = processes.facade(routes, log_dir=tmp_path, extra=["--workers", "2"])
    try:
        # /healthz answered as soon as one worker listened; the other may still be starting
        deadline = time.monotonic() + 20
        while len(_listening_pids(facade.log())) < 2:
            assert time.monotonic() < deadline, facade.log()
            time.sleep(0.1)
        for _ in range(40):
            with urllib.request.urlopen(facade.url + "/x", timeout=10) as response:
                assert json.loads(response.read())["server"] == "legacy"
        assert facade.stop() == 0
        assert facade.log().count("facade stopped") == 2
    finally:
        facade.stop()
        echo.stop()


def test_a_worker_that_dies_is_replaced_and_the_others_keep_serving(tmp_path: Path) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", echo.url)
    facade = processes.facade(routes, log_dir=tmp_path, extra=["--workers", "2"])
    try:
        deadline = time.monotonic() + 20
        while len(first := _listening_pids(facade.log())) < 2:
            assert time.monotonic() < deadline, facade.log()
            time.sleep(0.1)
        victim = sorted(first)[0]
        os.kill(int(victim), signal.SIGKILL)
        # connections already queued on the victim's socket die with it (SO_REUSEPORT keeps
        # one accept queue per worker); once it is gone, the survivor takes every new one
        while _alive(int(victim)):
            assert time.monotonic() < deadline + 10, facade.log()
            time.sleep(0.05)
        for _ in range(10):
            with urllib.request.urlopen(facade.url + "/x", timeout=10) as response:
                assert response.status == 200
        while len(_listening_pids(facade.log()) - first) < 1:
            assert time.monotonic() < deadline + 20, facade.log()
            time.sleep(0.1)
        assert f"(pid {victim}) exited with code -9" in facade.log()
        assert facade.stop() == 0
        # the replacement drained too: three listened, two stopped (the killed one could not)
        assert facade.log().count("facade stopped") == 2
    finally:
        facade.stop()
        echo.stop()


def test_workers_that_die_at_start_stop_the_facade_with_an_error(tmp_path: Path) -> None:
    echo = processes.echo_upstream("legacy", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "routes.yaml", echo.url)
    try:
        # the port is the echo upstream's own: every worker fails to listen
        result = subprocess.run(
            [STRANGLER, "serve", "--routes", str(routes), "--workers", "2",
             "--port", str(echo.port)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "workers keep dying at start" in result.stderr
    finally:
        echo.stop()


def _alive(pid: int) -> bool:
    """True while ``pid`` exists (a zombie counts: its parent reaps it within half a second)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _listening_pids(log: str) -> set[str]:
    return {
        line.rsplit("pid ", 1)[1].rstrip(")")
        for line in log.splitlines()
        if "facade listening" in line
    }


def test_a_translator_that_cannot_be_loaded_is_a_path_line_error(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(GOOD + "    translator: catalog.prodcuts\n")
    result = run("validate", str(routes))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{routes}:11: capabilities.product-catalog.translator:")
    assert "catalog.prodcuts" in result.stderr
    routes.write_text(GOOD + "    translator: catalog.products\n")
    assert run("validate", str(routes)).returncode == 0
