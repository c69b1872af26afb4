"""The facade's resources open and close as pairs: in reverse order, and a start that fails
half-way closes what it had opened."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, cast

import pytest

from facade import app as app_module
from facade import config
from facade.app import Facade
from facade.recording import Sampler


class Closes:
    """Notes, in order, the resources whose close ran."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.tasks: list[asyncio.Task[Any]] = []

    def sampler(self) -> Sampler:
        order = self.order

        class FakeSampler:
            def close(self) -> None:
                order.append("sampler")

        return cast(Sampler, FakeSampler())

    def watch(self, facade: Facade, monkeypatch: pytest.MonkeyPatch) -> None:
        shadow_close, upstreams_close = facade.state.shadow.close, facade.state.upstreams.close

        async def shadow() -> None:
            self.order.append("shadow")
            await shadow_close()

        async def upstreams() -> None:
            self.order.append("upstreams")
            await upstreams_close()

        monkeypatch.setattr(facade.state.shadow, "close", shadow)
        monkeypatch.setattr(facade.state.upstreams, "close", upstreams)


def load(tmp_path: Path) -> config.Config:
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n")
    return config.load(routes)


@pytest.fixture
def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Facade, Closes]:
    """A facade whose closes are noted, background tasks included (``Closes.tasks``)."""
    closes = Closes()
    facade = Facade(load(tmp_path), sampler=closes.sampler())
    closes.watch(facade, monkeypatch)
    spawn = app_module.spawn

    def spawned(*args: Any, **kwargs: Any) -> Any:
        task = spawn(*args, **kwargs)
        closes.tasks.append(task)
        task.add_done_callback(lambda _t: closes.order.append(f"task {task.get_name()}"))
        return task

    monkeypatch.setattr(app_module, "spawn", spawned)
    return facade, closes


# the last opened, the first closed
BACKGROUND = ["task routes-watch", "task legacy-probe", "task endpoint-traffic"]


async def test_close_runs_in_reverse_order_of_opening_and_only_once(
    watched: tuple[Facade, Closes],
) -> None:
    facade, closes = watched
    await facade.start()
    assert facade.state.shadow.worker._thread is not None
    await facade.close()
    # background tasks first, then shadow calls finish (through the pools), the sampler last
    assert closes.order == [*BACKGROUND, "shadow", "upstreams", "sampler"]
    assert not facade.state.shadow.worker._thread.is_alive()
    await facade.close()
    assert len(closes.order) == len(BACKGROUND) + 3


async def test_a_start_that_fails_half_way_closes_what_it_had_opened(
    watched: tuple[Facade, Closes], monkeypatch: pytest.MonkeyPatch
) -> None:
    facade, closes = watched

    def broken(*_args: Any) -> None:
        raise RuntimeError("a reload hook's registration failed")

    monkeypatch.setattr(app_module, "run_hooks", broken)
    with pytest.raises(RuntimeError, match="registration failed"):
        await facade.start()
    assert closes.order == [*BACKGROUND, "shadow", "upstreams", "sampler"]
    assert all(task.cancelled() for task in closes.tasks)
    await facade.close()  # nothing left to close
    assert len(closes.order) == len(BACKGROUND) + 3


async def test_a_background_task_that_loses_a_cancel_is_cancelled_again() -> None:
    # a task can lose a cancel (asyncio.wait_for on Python 3.11, gh-86296): the close must
    # still end, or a worker that fails to listen, or drains, never exits
    lost: list[int] = []

    async def loses_the_first_cancel() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost.append(1)

    async with contextlib.AsyncExitStack() as stack:
        app_module.background(stack, loses_the_first_cancel(), name="loses-a-cancel")
        await asyncio.sleep(0)  # started, waiting
        closing = asyncio.ensure_future(stack.aclose())
        done, _ = await asyncio.wait({closing}, timeout=app_module.RECANCEL_AFTER * 4)
        assert closing in done
        closing.result()
    assert lost == [1]
