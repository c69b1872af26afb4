"""facade.loops: which event loop `strangler serve --loop` comes to, and that it runs."""

from __future__ import annotations

import asyncio
import sys

import pytest

from facade import loops


def test_asyncio_is_asyncio_and_auto_is_uvloop_on_linux_where_it_imports() -> None:
    assert loops.resolve("asyncio") == "asyncio"
    assert loops.resolve("uvloop") == "uvloop"  # a dependency on Linux: installed here
    assert loops.resolve("auto") == ("uvloop" if sys.platform == "linux" else "asyncio")


def test_without_uvloop_auto_falls_back_and_an_explicit_uvloop_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert loops.resolve("auto") == "asyncio"
    with pytest.raises(loops.LoopUnavailable, match="--loop asyncio"):
        loops.resolve("uvloop")


def test_auto_is_asyncio_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert loops.resolve("auto") == "asyncio"


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(loops.LoopUnavailable, match="one of auto, uvloop, asyncio"):
        loops.resolve("trio")


@pytest.mark.parametrize("name", ["uvloop", "asyncio"])
def test_run_runs_the_coroutine_on_the_loop_named(name: loops.LoopName) -> None:
    seen: list[object] = []

    async def main() -> None:
        await asyncio.sleep(0)
        seen.append(loops.running_loop_name())

    loops.run(main(), name)
    assert seen == [name]


def test_no_running_loop_has_no_name() -> None:
    assert loops.running_loop_name() is None
