"""How ``./scripts/test`` shares the suite among pytest-xdist workers (docs/testing.md).

A test file runs on one worker, in its order: its tests may share module-scoped fixtures (a
monolith, a facade, a stack), which start once that way, or state (a unit test of the routes
reload checks that the collector is back on after the test before it). The golden corpus files
share the plugin's one stack, so they run on one worker too. The architecture tests start a
fresh interpreter each and share nothing: each goes to whichever worker is free."""

from __future__ import annotations

from typing import Any

import pytest

GOLDEN = "tests/golden/"
SPREAD = ("tests/unit/test_architecture.py::",)


def scope_of(nodeid: str) -> str:
    """The unit of work ``nodeid`` belongs to: tests of one scope run on one worker, in order."""
    if nodeid.startswith(GOLDEN):
        return GOLDEN
    if nodeid.startswith(SPREAD):
        return nodeid
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True)  # called by pytest-xdist only: plain pytest runs without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByScope(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    return ByScope(config, log)
