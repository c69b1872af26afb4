"""The architecture as tests: one-way dependencies, and every module importable on its own."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["facade", "acl", "parallel_run", "extracted", "regress", "strangler_django"]


def test_dependencies_flow_one_way() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = [str(ROOT / package)]
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return names


@pytest.mark.parametrize("module", _modules())
def test_each_module_imports_alone(module: str) -> None:
    # a fresh interpreter per module catches import cycles that a warm sys.modules hides
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_routes_schema_does_not_pull_in_the_web_stack() -> None:
    code = "import sys, facade.config; print('aiohttp' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_django_app_loads_neither_the_facade_runtime_nor_the_demo() -> None:
    code = (
        "import sys, strangler_django, strangler_django.apps, strangler_django.checks; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'aiohttp', 'legacy_monolith', 'extracted'} or m in {'facade.app', 'facade.stages'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
