"""`--access-log` as a user spells it: `serve --access-log text|json`, `export envoy --access-log
json`; anything else exits 2 saying why, before anything starts or is written."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize("value", ["xml", "JSON", ""])
def test_serve_refuses_an_unknown_format(routes: Path, value: str) -> None:
    done = run("serve", "--routes", str(routes), "--access-log", value)
    assert done.returncode == 2
    assert "is neither text nor json" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("target", "value"), [("nginx", "json"), ("envoy", "text"), ("envoy", "yes")]
)
def test_export_takes_json_for_envoy_only(
    routes: Path, tmp_path: Path, target: str, value: str
) -> None:
    out = tmp_path / "out"
    done = run("export", target, str(out), "--routes", str(routes), "--access-log", value)
    assert done.returncode == 2
    assert f"--access-log {value}: only json, and for envoy only" in done.stderr
    assert not out.exists()


def test_export_envoy_writes_the_access_log(routes: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run("export", "envoy", str(out), "--routes", str(routes), "--access-log", "json")
    assert done.returncode == 0, done.stderr
    text = (out / "envoy.yaml").read_text()
    boot = json.loads(text[text.index("{") :])
    typed = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    (logger,) = typed["typed_config"]["access_log"]
    assert logger["name"] == "envoy.access_loggers.stdout"
