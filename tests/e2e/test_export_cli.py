"""`strangler export envoy|nginx DIR [--explain]` as a user runs it: files, messages, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.export_routes import every_mode

pytestmark = pytest.mark.e2e
STRANGLER = str(Path(sys.executable).parent / "strangler")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, "export", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_explain_writes_the_file_and_lists_what_differs(tmp_path: Path) -> None:
    every_mode(tmp_path)
    routes = str(tmp_path / "routes.yaml")
    done = run("nginx", str(tmp_path / "out"), "--explain", "--routes", routes,
               "--facade-url", "http://127.0.0.1:9000")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "nginx.conf").read_text().startswith("# compiled by")
    assert f"wrote {tmp_path / 'out' / 'nginx.conf'}" in done.stdout
    assert "split: canary: split_clients hashes with MurmurHash2" in done.stdout
    assert "shadowed: shadow: no --compare-url" in done.stdout


def test_a_routes_yaml_the_target_cannot_express_exits_2_with_the_reason(tmp_path: Path) -> None:
    every_mode(tmp_path)
    done = run("envoy", str(tmp_path / "out"), "--routes", str(tmp_path / "routes.yaml"))
    assert done.returncode == 2
    assert "envoy cannot express this routes.yaml" in done.stderr
    assert "'translated' has a translator" in done.stderr
    assert not (tmp_path / "out" / "envoy.yaml").exists()


def test_a_bad_routes_yaml_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nlegacy: {url: ftp://x}\n")
    done = run("envoy", str(tmp_path / "out"), "--routes", str(routes))
    assert done.returncode == 2
    assert f"{routes}:2:" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["haproxy"], "unknown target 'haproxy'"),
        (["envoy", "--listen", "8080"], "--listen: expected HOST:PORT"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    every_mode(tmp_path)
    engine, *rest = args
    done = run(engine, str(tmp_path / "out"), *rest, "--routes", str(tmp_path / "routes.yaml"))
    assert done.returncode == 2
    assert message in done.stderr
