"""`serve --engine` as a user spells it: python or envoy; options of one engine refused with
the other; a bad routes.yaml exits 2 as PATH:LINE before Envoy or any helper starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
STRANGLER = str(Path(sys.executable).parent / "strangler")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text("version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n")
    return path


@pytest.mark.parametrize("value", ["nginx", "Envoy", ""])
def test_an_unknown_engine_exits_2(routes: Path, value: str) -> None:
    done = run("serve", "--routes", str(routes), "--engine", value)
    assert done.returncode == 2
    assert "is neither python nor envoy" in done.stdout + done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--compare-url", "http://127.0.0.1:1"),  # the Python engine compares by itself
        ("--engine", "envoy", "--access-log", "text"),  # Envoy's log is JSON
        ("--engine", "envoy", "--record", "flows.mitm"),  # recording is the facade's
    ],
)
def test_an_option_of_the_other_engine_exits_2(routes: Path, args: tuple[str, ...]) -> None:
    done = run("serve", "--routes", str(routes), *args)
    assert done.returncode == 2, done.stderr


def test_a_bad_routes_file_exits_2_as_path_line(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("version: 1\nlegacy: {url: 'ftp://x'}\n")
    done = run("serve", "--engine", "envoy", "--routes", str(path))
    assert done.returncode == 2
    assert f"{path}:2:" in done.stderr
