"""The host lock behind a relay's lease holder name: one relay per direction on a host keeps
a name across restarts; a second one gets its own and waits as a standby. The runner's
directions follow the mode; a retired capability's way back stops."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from strangler.data.sync import HostLock, OpenRelay, Runner
from tests.support.probe import wait_until


def test_the_host_lock_is_held_once_and_free_again_when_released(tmp_path: Path) -> None:
    first = HostLock(tmp_path / "sync" / "inventory.forward.lock")
    second = HostLock(first.path)

    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


@dataclass
class FollowingRelay:
    """A relay that follows until told to stop, and records a drain."""

    name: str
    drained: threading.Event = field(default_factory=threading.Event)
    following: threading.Event = field(default_factory=threading.Event)

    def follow(self, stop: threading.Event, *, until_idle: bool = False, give_up: int = 0) -> None:
        if until_idle:
            self.drained.set()
            return
        self.following.set()
        stop.wait()


@dataclass
class Plans:
    needed: tuple[str, ...]
    closed: tuple[str, ...] = ()

    def current(self) -> Plans:
        return self


def test_a_direction_the_mode_no_longer_needs_drains_then_stops() -> None:
    plans = Plans(("forward", "back"))  # canary
    relays = {d: FollowingRelay(f"inventory/{d}") for d in ("forward", "back")}
    closed: list[str] = []

    def open_(direction: str) -> OpenRelay:
        resources = ExitStack()
        resources.callback(closed.append, direction)
        return OpenRelay(relays[direction], None, resources)  # type: ignore[arg-type]

    runner = Runner(plans, None, open_, log=lambda _line: None)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: relays["back"].following.is_set(), "the back relay follows")
        plans.needed = ("forward",)  # rolled back to shadow

        wait_until(lambda: closed == ["back"], "the back direction closed")
        assert relays["back"].drained.is_set()
        assert "back" not in runner.running
        assert not relays["forward"].drained.is_set()
        assert runner.running["forward"][0].is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert sorted(closed) == ["back", "forward"]
    assert not relays["forward"].drained.is_set()  # stopping the process does not drain


def test_a_back_relay_asked_for_by_name_drains_and_ends_the_run_once_retired() -> None:
    plans = Plans(("forward", "back"))  # extracted
    relay = FollowingRelay("inventory/back")
    closed: list[str] = []
    lines: list[str] = []

    def open_(direction: str) -> OpenRelay:
        resources = ExitStack()
        resources.callback(closed.append, direction)
        return OpenRelay(relay, None, resources)  # type: ignore[arg-type]

    runner = Runner(plans, "back", open_, log=lines.append)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        wait_until(relay.following.is_set, "the back relay follows")
        plans.closed = ("back",)  # `strangler retire` wrote retired: true

        wait_until(lambda: not thread.is_alive(), "the run ends by itself")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert relay.drained.is_set()
    assert closed == ["back"]
    assert "back: closed by routes.yaml (the capability is retired: no way back); stopped" in lines
