"""The routes.yaml watcher (SECURITY.md F1): loads run off the loop within a time limit, and any
failure is a rejected reload that leaves the configuration in force and the watcher running."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from facade import config as config_module
from facade import reload as reload_module
from facade.config import Config
from facade.reload import (
    ParseStillRunning,
    ReloadTimeout,
    default_timeout,
    load_off_loop,
    reload,
    reload_now,
    watch_routes,
)
from facade.state import FacadeState, LiveConfig, ParseSlot

ROUTES = "version: 1\nlegacy: {{url: 'http://127.0.0.1:8000'}}\ndebug_headers: {debug}\n"


def write(path: Path, *, debug: bool) -> Path:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(ROUTES.format(debug=str(debug).lower()))
    tmp.replace(path)  # as editors and `strangler` save: a rename, a new inode
    return path


@pytest.fixture
def state(tmp_path: Path) -> FacadeState:
    return FacadeState(LiveConfig(config_module.load(write(tmp_path / "routes.yaml", debug=False))))


@dataclass
class Loads:
    """What ``facade.config.load`` does next: each call pops the first fake, or loads for real
    once none is left; ``calls`` counts them."""

    fakes: list[Callable[[Any], Config]] = field(default_factory=list)
    calls: list[Any] = field(default_factory=list)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Loads:
    real = config_module.load
    loads = Loads()

    def load(path: Any, **kwargs: Any) -> Config:
        loads.calls.append(path)
        return loads.fakes.pop(0)(path) if loads.fakes else real(path, **kwargs)

    monkeypatch.setattr(config_module, "load", load)
    return loads


def raising(exc: BaseException) -> Callable[[Any], Config]:
    def load(_path: Any) -> Config:
        raise exc

    return load


async def until(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    "exc", [MemoryError(), RecursionError("maximum recursion depth exceeded"), KeyError("x")]
)
async def test_any_exception_while_loading_is_a_rejected_reload(
    state: FacadeState, loads: Loads, exc: BaseException
) -> None:
    before = state.live.current
    write(before.source, debug=True)
    loads.fakes.append(raising(exc))
    assert not await reload(state)
    assert state.live.current is before  # the last good config stays
    assert state.live.last_error is not None
    assert state.live.last_error.startswith(f"{before.source}: could not load the file: ")
    assert type(exc).__name__ in state.live.last_error
    assert await reload(state)  # the next attempt loads the edit
    assert state.live.current.routes.debug_headers is True
    assert state.live.last_error is None


async def test_a_load_over_the_time_limit_is_rejected_and_the_loop_never_waits(
    state: FacadeState, loads: Loads
) -> None:
    release = threading.Event()

    def stuck(_path: Any) -> Config:
        release.wait(10)  # a parse that does not end: it holds no lock the loop needs
        raise AssertionError("abandoned")

    loads.fakes.append(stuck)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    try:
        started = time.monotonic()
        assert not await reload(state, time_limit=0.3)
        assert 0.3 <= time.monotonic() - started < 2
        assert ticks >= 10  # the loop ran all along
        assert state.live.last_error == (
            f"{state.live.current.source}: parsing took longer than 0.3s; refused "
            "($STRANGLER_RELOAD_TIMEOUT sets the limit)"
        )
    finally:
        release.set()
        ticker.cancel()


async def test_load_off_loop_raises_the_loaders_error_in_the_loop(tmp_path: Path) -> None:
    with pytest.raises(MemoryError):
        await load_off_loop(tmp_path, time_limit=5, loader=raising(MemoryError()))

    def slow(_path: Any) -> Config:
        threading.Event().wait(0.5)  # a parse longer than the limit
        raise AssertionError("abandoned: nobody waits for this")

    with pytest.raises(ReloadTimeout):
        await load_off_loop(tmp_path, time_limit=0.05, loader=slow)


class _Cycle:
    me: object = None


async def test_a_reload_freezes_nothing_so_cyclic_garbage_alive_at_its_end_is_collected(
    tmp_path: Path,
) -> None:
    # a request in flight at the reload's end, say: its frames and futures refer to each other
    alive = _Cycle()
    alive.me = alive
    gone = weakref.ref(alive)

    def loader(_path: Any) -> Config:
        raise ValueError("a bad file")

    frozen = gc.get_freeze_count()
    with pytest.raises(ValueError, match="a bad file"):
        await load_off_loop(tmp_path, time_limit=5, loader=loader)
    assert gc.get_freeze_count() == frozen
    del alive
    gc.collect()
    assert gone() is None  # frozen, it would have leaked


async def test_the_watcher_outlives_a_failure_and_applies_the_next_edit(
    state: FacadeState, loads: Loads
) -> None:
    path = state.live.current.source
    loads.fakes.append(raising(RecursionError("maximum recursion depth exceeded")))
    watcher = asyncio.ensure_future(watch_routes(state))
    await asyncio.sleep(0)  # the watcher takes its first look at the file
    try:
        write(path, debug=True)
        await until(lambda: state.live.last_error is not None)
        assert "RecursionError" in (state.live.last_error or "")
        assert state.live.current.routes.debug_headers is False
        path.write_text(path.read_text() + "# touched: a new stamp\n")
        await until(lambda: state.live.current.routes.debug_headers is True, within=2)
        assert state.live.last_error is None
        assert not watcher.done()
    finally:
        watcher.cancel()


async def test_an_edit_saved_before_the_watcher_starts_is_loaded(state: FacadeState) -> None:
    # the edit lands between the load and the watcher's first stamp (a start that takes
    # seconds): the stamp alone would take the edited file as its baseline
    write(state.live.current.source, debug=True)
    watcher = asyncio.ensure_future(watch_routes(state))
    try:
        await until(lambda: state.live.current.routes.debug_headers is True, within=2)
        assert state.live.last_error is None
    finally:
        watcher.cancel()


def test_edited_since_load_compares_bytes_not_stamps(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml", debug=False)
    config = config_module.load(path)
    assert config.edited_since_load() is False
    write(path, debug=False)  # saved again, same bytes: a new inode and mtime only
    assert config.edited_since_load() is False
    write(path, debug=True)
    assert config.edited_since_load() is True
    path.unlink()
    assert config.edited_since_load() is True  # unreadable now: the reload says why


async def test_sighup_asks_the_watcher_for_a_reload_of_an_unchanged_file(
    state: FacadeState, loads: Loads
) -> None:
    calls = loads.calls
    watcher = asyncio.ensure_future(watch_routes(state))
    try:
        await asyncio.sleep(reload_module.POLL_INTERVAL * 2)
        assert calls == []  # nothing changed, nothing loaded
        reload_now(state)  # what the SIGHUP handler calls: returns at once
        await until(lambda: len(calls) == 1, within=2)
        assert state.live.last_error is None
    finally:
        watcher.cancel()


def test_each_applied_reload_calls_the_hooks_and_a_failing_one_costs_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # how strangler's audit trail follows routes.yaml without the facade importing it
    seen: list[tuple[str | None, str]] = []

    def broken(old: Config | None, new: Config) -> None:
        raise RuntimeError("a hook's bug")

    def follow(old: Config | None, new: Config) -> None:
        seen.append((old.digest if old else None, new.digest))

    path = write(tmp_path / "routes.yaml", debug=False)
    first = config_module.load(path)
    state = FacadeState(LiveConfig(first, hooks=(broken, follow)))
    write(path, debug=True)
    assert asyncio.run(reload(state, time_limit=30))
    assert seen == [(first.digest, state.live.current.digest)]
    assert state.live.current.digest != first.digest
    assert "reload hook" in caplog.text
    assert not asyncio.run(reload(state, time_limit=30))  # unchanged: no call
    assert len(seen) == 1


async def test_a_watching_facade_calls_its_hooks_once_at_start(tmp_path: Path) -> None:
    # e.g. strangler's audit trail: edits made while no facade ran, which no reload saw
    from facade.app import Facade

    config = config_module.load(write(tmp_path / "routes.yaml", debug=False))
    seen: list[tuple[Config | None, Config]] = []
    facade = Facade(config, reload_hooks=[lambda old, new: seen.append((old, new))])
    await facade.start()
    try:
        assert seen == [(None, config)]
    finally:
        await facade.close()
    quiet = Facade(config, watch=False, reload_hooks=[lambda old, new: seen.append((old, new))])
    await quiet.start()
    await quiet.close()
    assert len(seen) == 1  # not watching: no hooks


async def test_f1_an_abandoned_parse_is_the_only_one_and_the_collector_waits_for_it(
    tmp_path: Path,
) -> None:
    release = threading.Event()

    def stuck(_path: Any) -> Config:
        release.wait(10)
        raise AssertionError("abandoned")

    slot = ParseSlot()
    assert gc.isenabled()
    with pytest.raises(ReloadTimeout):
        await load_off_loop(tmp_path, time_limit=0.05, loader=stuck, slot=slot)
    assert slot.busy()
    assert not gc.isenabled()  # the thread still allocates: full passes would stall the loop
    with pytest.raises(ParseStillRunning, match="previous parse"):
        await load_off_loop(tmp_path, time_limit=5, loader=raising(KeyError()), slot=slot)
    release.set()
    await until(lambda: not slot.busy())
    assert gc.isenabled()
    with pytest.raises(KeyError):  # the next parse runs again
        await load_off_loop(tmp_path, time_limit=5, loader=raising(KeyError()), slot=slot)


async def test_f1_a_reload_during_an_abandoned_parse_is_rejected_then_retried(
    state: FacadeState, loads: Loads
) -> None:
    release = threading.Event()

    def stuck(_path: Any) -> Config:
        release.wait(10)
        raise AssertionError("abandoned")

    loads.fakes.append(stuck)
    assert not await reload(state, time_limit=0.05)
    write(state.live.current.source, debug=True)
    watcher = asyncio.ensure_future(watch_routes(state))
    reload_now(state)  # SIGHUP: the watcher takes it up at once
    try:
        await until(lambda: "still running" in (state.live.last_error or ""))
        assert len(loads.calls) == 1  # no second parse beside the first
        release.set()
        await until(lambda: state.live.current.routes.debug_headers)  # taken up again
    finally:
        release.set()
        watcher.cancel()


def test_f1_the_default_time_limit_fits_the_size_bound() -> None:
    assert default_timeout(4 * 1024**2) == 60  # about 10,000 capabilities: 20-40 s
    assert default_timeout(8 * 1024**2) == 120


async def test_an_edit_of_the_endpoint_inventory_alone_is_reloaded_and_a_broken_one_only_warned(
    tmp_path: Path,
) -> None:
    inventory = tmp_path / "endpoints.json"

    def endpoints(*templates: str) -> None:
        listed = [{"template": t, "methods": ["GET"]} for t in templates]
        tmp = inventory.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": 1, "endpoints": listed}))
        tmp.replace(inventory)

    endpoints("/a")
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:8000', endpoints: endpoints.json}\n"
    )
    state = FacadeState(LiveConfig(config_module.load(routes)))

    def keys() -> list[str]:
        assert state.live.current.inventory is not None
        return [e.key for e in state.live.current.inventory.endpoints]

    watcher = asyncio.ensure_future(watch_routes(state))
    await asyncio.sleep(0)
    try:
        endpoints("/a", "/b")
        await until(lambda: keys() == ["/a", "/b"])
        assert state.live.reloads == 1
        # a touch (same bytes, new mtime) is read again and not applied
        os.utime(inventory, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        assert await reload(state) is False
        assert state.live.reloads == 1
        # a broken inventory is no rejected reload: a warning, counting with the last good one
        inventory.write_text('{"version": 1, "endpoints": [{"template": "/{"}]}')
        await until(lambda: state.live.current.inventory_problem is not None)
        assert f"{inventory}:1" in (state.live.current.inventory_problem or "")
        assert state.live.last_error is None
        assert keys() == ["/a", "/b"]  # the last good inventory goes on counting
        # and a routes.yaml edit (a rollback) is applied meanwhile
        routes.write_text(routes.read_text() + "debug_headers: true\n")
        await until(lambda: state.live.current.routes.debug_headers)
        assert state.live.last_error is None
        inventory.unlink()  # moved away: still a warning, naming routes.yaml's line
        await until(lambda: "no file" in (state.live.current.inventory_problem or ""))
        assert f"{routes.resolve()}:2: legacy.endpoints" in (
            state.live.current.inventory_problem or ""
        )
        endpoints("/c")
        await until(lambda: keys() == ["/c"])
        assert state.live.current.inventory_problem is None
        assert state.live.last_error is None
        assert not watcher.done()
    finally:
        watcher.cancel()


async def test_a_watcher_cancelled_as_a_reload_is_asked_ends(state: FacadeState) -> None:
    # a SIGHUP and the facade's close at the same moment: the cancel must not be lost, or the
    # close that waits for the watcher never returns (asyncio.wait_for on Python 3.11 lost it)
    watcher = asyncio.ensure_future(watch_routes(state))
    await asyncio.sleep(0.1)  # waiting for the next poll or a SIGHUP
    state.live.reload_requested.set()
    watcher.cancel()
    done, _ = await asyncio.wait({watcher}, timeout=reload_module.POLL_INTERVAL * 3)
    assert watcher in done
    assert watcher.cancelled()
