"""The architecture as tests: one-way dependencies, and every module importable on its own."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "strangler",
    "facade",
    "acl",
    "parallel_run",
    "extracted",
    "regress",
    "strangler_django",
    "compare_service",
]


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


def test_the_proxy_loads_neither_the_operators_side_nor_the_demo() -> None:
    # what a facade process holds: nothing of the CLI, the audit trail, the demo shop or Django
    code = (
        "import sys, facade.app, facade.server\n"
        "roots = ('strangler', 'legacy_monolith', 'extracted', 'django')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in roots))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_contracts_forbid_every_runtime_module_of_the_facade() -> None:
    # the import contract lists the facade's modules by name: a new one must not slip past it
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = (c for c in settings["contracts"] if c["name"].startswith("Only the operator"))
    children = {f"facade.{info.name}" for info in pkgutil.iter_modules([str(ROOT / "facade")])}
    assert set(contract["forbidden_modules"]) == children - {"facade.config"}
    assert not any("ignore_imports" in c for c in settings["contracts"])


def test_the_django_app_loads_neither_the_facade_runtime_nor_the_demo() -> None:
    code = (
        "import sys, strangler_django, strangler_django.apps, strangler_django.checks; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'aiohttp', 'strangler', 'legacy_monolith', 'extracted'} "
        "or m in {'facade.app', 'facade.stages'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
