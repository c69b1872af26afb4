"""The supervisor's crash-loop rule, on fake worker processes (no fork, no clock): a worker
that dies before it listens counts as dying at start, however long its start took."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from facade import server
from facade.server import CRASH_LOOP, QUICK_DEATH, ServeOptions, WorkersFailed


@dataclass
class FakeWorker:
    alive: bool = True
    pid: int | None = None
    exitcode: int | None = None
    listening: threading.Event = field(default_factory=threading.Event)

    def is_alive(self) -> bool:
        return self.alive

    def die(self) -> None:
        self.alive, self.exitcode = False, 1

    def terminate(self) -> None:
        self.die()

    def join(self, timeout: float | None = None) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()
    monkeypatch.setattr(server.time, "monotonic", made.monotonic)
    return made


def supervisor(started: list[FakeWorker], clock: Clock) -> server._Supervisor:
    made = server._Supervisor(ServeOptions(Path("routes.yaml")), "unused")

    def start(slot: int) -> None:
        worker = FakeWorker()
        started.append(worker)
        made._workers[slot] = worker  # type: ignore[assignment]
        made._started[slot] = clock.now
        made._listening[slot] = worker.listening  # type: ignore[assignment]
        made._listening_since.pop(slot, None)
        made._respawn_at.pop(slot, None)

    made._start = start  # type: ignore[method-assign]
    start(0)
    return made


def test_workers_dying_before_they_listen_are_a_crash_loop_however_slow_their_start(
    clock: Clock,
) -> None:
    started: list[FakeWorker] = []
    made = supervisor(started, clock)

    def slow_starts_that_die() -> None:
        for _ in range(CRASH_LOOP * 20):
            clock.now += QUICK_DEATH * 3  # a loaded machine: each start outlasts QUICK_DEATH
            started[-1].die()
            made._replace_the_dead()  # notes the death, schedules the replacement
            clock.now += 60  # past any backoff
            made._replace_the_dead()  # starts it

    with pytest.raises(WorkersFailed):
        slow_starts_that_die()
    assert len(started) == CRASH_LOOP


def test_a_worker_that_listened_long_enough_is_no_crash_and_is_replaced_at_once(
    clock: Clock,
) -> None:
    started: list[FakeWorker] = []
    made = supervisor(started, clock)
    for _ in range(CRASH_LOOP * 2):
        started[-1].listening.set()
        made._replace_the_dead()  # the supervisor sees it listening
        clock.now += QUICK_DEATH + 1
        made._replace_the_dead()
        started[-1].die()
        made._replace_the_dead()  # no backoff: replaced in the same pass
    assert len(started) == CRASH_LOOP * 2 + 1
