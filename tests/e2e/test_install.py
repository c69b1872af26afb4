"""The toolkit installs alone: ``pip install .`` into a fresh virtualenv, without extras, brings
the facade, the CLI, parallel_run, the ACL, the regress plugin and the Django app's package,
but neither Django nor gunicorn nor the demo shop and its services.

Slow (a wheel is built and its dependencies resolved): marked ``install``, which
``./scripts/test`` runs with the rest; ``-m "not install"`` leaves it out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import processes

pytestmark = [pytest.mark.e2e, pytest.mark.install, pytest.mark.timeout(600)]

ROOT = processes.ROOT
# what a fresh clone holds: everything but the local state and caches
_NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".strangler",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "bench-results",
)


def _clean_env() -> dict[str, str]:
    # nothing of the checkout on the path: only what the distribution installed
    drop = {"PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "STRANGLER_ROUTES"}
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with ``pip install <a copy of the checkout>``, no extras."""
    work = tmp_path_factory.mktemp("install")
    source = work / "strangler"
    shutil.copytree(ROOT, source, ignore=_NOT_IN_A_CLONE)  # the build writes beside its source
    env = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(env)], check=True, env=_clean_env())
    done = subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)],
        cwd=work,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return env


def _python(venv: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_toolkit_imports_without_django_gunicorn_or_the_demo(
    venv: Path, tmp_path: Path
) -> None:
    toolkit = (
        "import facade.app, facade.config, parallel_run.store, acl, regress, strangler_django, "
        "compare_service.server"
    )
    done = _python(venv, toolkit, tmp_path)
    assert done.returncode == 0, done.stderr
    # the regress plugin is registered for pytest (which loads it; pytest is the user's)
    plugins = "from importlib.metadata import entry_points as e; print(e(group='pytest11'))"
    assert "regress.plugin" in _python(venv, plugins, tmp_path).stdout
    for absent in ("django", "gunicorn", "legacy_monolith", "extracted"):
        done = _python(venv, f"import {absent}", tmp_path)
        assert done.returncode != 0, f"{absent} is installed"
        assert "ModuleNotFoundError" in done.stderr


def test_validate_and_serve_work_from_the_installed_toolkit(venv: Path, tmp_path: Path) -> None:
    routes = processes.write_routes(tmp_path / "routes.yaml", "http://127.0.0.1:9")
    validate = subprocess.run(
        [str(venv / "bin" / "strangler"), "validate", str(routes)],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert validate.returncode == 0, validate.stderr
    port = processes.free_port()
    running = processes.start(
        "installed-facade",
        [str(venv / "bin" / "strangler"), "serve", "--routes", str(routes), "--port", str(port)],
        port=port,
        log_dir=tmp_path,
        ready_path="/healthz",
        drop_env=["PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV"],
    )
    try:
        with urllib.request.urlopen(f"{running.url}/healthz") as answer:
            assert answer.status == 200
    finally:
        assert running.stop() == 0


def test_export_works_from_the_installed_toolkit(venv: Path, tmp_path: Path) -> None:
    """The canary's Lua is package data: an installed strangler inlines it into envoy.yaml."""
    routes = processes.write_routes(tmp_path / "routes.yaml", "http://127.0.0.1:9")
    done = subprocess.run(
        [str(venv / "bin" / "strangler"), "export", "envoy", str(tmp_path / "out"),
         "--routes", str(routes)],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "function envoy_on_request" in (tmp_path / "out" / "envoy.yaml").read_text()
