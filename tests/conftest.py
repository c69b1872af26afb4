"""Shared fixtures: real processes on free ports (see tests/support/processes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import processes


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def echo_legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Running]:
    running = processes.echo_upstream("legacy", log_dir=tmp_path_factory.mktemp("echo-legacy"))
    yield running
    running.stop()
