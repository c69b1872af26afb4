"""The store follower: the recorder for the ``store:`` settings in force."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from facade import config
from facade.shadow.store import StoreFollower
from parallel_run.recorder import Recorder
from parallel_run.store_settings import StoreSettings
from tests.unit.facade.shadow.support import Recorders, routes


def test_a_recorder_that_cannot_open_after_a_reload_is_tried_again(tmp_path: Path) -> None:
    # redaction is a security boundary: a failed switch must not leave the worker recording
    # by the previous store: settings until the next reload
    current = [routes(tmp_path)]
    recorders = Recorders()
    failing = [False]

    def open_recorder(settings: StoreSettings, loaded: config.Config) -> Recorder:
        if failing[0]:
            raise OSError("cannot open the store")
        return recorders(settings, loaded)

    follower = StoreFollower(lambda: current[0], open_recorder=open_recorder)
    assert follower.follow() is None  # the first recorder
    old = follower.recorder
    current[0] = routes(tmp_path, name="redacting.yaml", store=", redact_fields: [ssn]")
    failing[0] = True
    for _ in range(2):
        with pytest.raises(OSError, match="cannot open"):
            follower.follow()
        assert follower.recorder is old
        assert follower.settings is not None
        assert "ssn" not in follower.settings.redactor.json_fields  # settings match the recorder
    failing[0] = False
    switched = follower.follow()
    assert switched is not None
    assert switched.old is old
    assert follower.recorder is recorders.last
    assert "ssn" in recorders.last.settings.redactor.json_fields


def test_drops_reach_the_recorder_in_force_from_another_thread(tmp_path: Path) -> None:
    current = [routes(tmp_path)]
    counted: dict[int, list[dict[str, int]]] = {}

    class Counting:
        def __init__(self) -> None:
            counted[id(self)] = []

        def count_drops(self, counts: dict[str, int]) -> None:
            counted[id(self)].append(dict(counts))

    def open_recorder(settings: StoreSettings, loaded: config.Config) -> Recorder:
        return Counting()  # type: ignore[return-value]

    follower = StoreFollower(lambda: current[0], open_recorder=open_recorder)
    assert not follower.count_drops({"orders": 1})  # none open yet: the caller keeps them
    follower.follow()
    first = follower.recorder
    worker = threading.Thread(target=follower.count_drops, args=({"orders": 2},))
    worker.start()
    worker.join()
    current[0] = routes(tmp_path, name="redacting.yaml", store=", redact_fields: [ssn]")
    switched = follower.follow()
    assert switched is not None
    assert follower.count_drops({"orders": 3})
    assert counted[id(first)] == [{"orders": 2}]
    assert counted[id(follower.recorder)] == [{"orders": 3}]
