"""How ``./scripts/test`` shares the suite among pytest-xdist workers (docs/testing.md).

An integration or end-to-end test file runs on one worker: its tests share module-scoped
fixtures (a monolith, a facade, a stack) and sometimes state, which start once that way. The
golden corpus files share the plugin's one stack, so they run on one worker too. Unit tests
share nothing: each goes to whichever worker is free, and fills the gaps at the end."""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

GOLDEN = "tests/golden/"
UNIT = "tests/unit/"


def scope_of(nodeid: str) -> str:
    """The unit of work ``nodeid`` belongs to: tests of one scope run on one worker, in order."""
    if nodeid.startswith(GOLDEN):
        return GOLDEN
    if nodeid.startswith(UNIT):
        return nodeid
    return nodeid.split("::", 1)[0]


class ByFile(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    if config.getoption("dist") != "loadfile":
        return None
    return ByFile(config, log)
