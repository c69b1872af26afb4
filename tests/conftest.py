"""Shared fixtures: real processes on free ports (see tests/support/processes.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import processes

# a hook, found by its name: which tests share a pytest-xdist worker (./scripts/test)
from tests.support.parallel import pytest_xdist_make_scheduler  # noqa: F401

# Property tests judge results, never wall-clock time: on a loaded 2-core machine Hypothesis's
# 200 ms per-example deadline fails correct code (seen: the ACL round-trip properties while
# real processes of other tests were busy).
settings.register_profile("strangler", deadline=None)
settings.load_profile("strangler")

# The demo shop and its services run from the checkout (they are not packages of the
# distribution): every process a test starts finds them, whatever its working directory.
_ROOT = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_ROOT, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _ROOT)]
)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def echo_legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Running]:
    running = processes.echo_upstream("legacy", log_dir=tmp_path_factory.mktemp("echo-legacy"))
    yield running
    running.stop()
