"""State derived from a configuration lives exactly as long as the configuration is in use."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from facade import config
from facade.config.derived import PerConfig


def load(tmp_path: Path, name: str = "routes.yaml", *, port: int = 9) -> config.Config:
    path = tmp_path / name
    path.write_text(f"version: 1\nlegacy: {{url: 'http://127.0.0.1:{port}'}}\n")
    return config.load(path)


def test_a_value_is_made_once_per_configuration(tmp_path: Path) -> None:
    made: list[int] = []

    def make(loaded: config.Config) -> list[int]:
        made.append(int(loaded.routes.legacy.url.rsplit(":", 1)[1]))
        return []

    derived = PerConfig(make)
    first, second = load(tmp_path, port=1), load(tmp_path, "b.yaml", port=2)
    assert derived.get(first) is derived.get(first)
    assert derived.get(second) is not derived.get(first)
    assert made == [1, 2]
    # the same file loaded twice is two configurations: a reload gets its own
    again = load(tmp_path, port=1)
    assert again.digest == first.digest
    assert derived.get(again) is not derived.get(first)


def test_what_a_configuration_reloaded_away_derived_goes_with_its_last_user(
    tmp_path: Path,
) -> None:
    dropped: list[list[str]] = []
    derived: PerConfig[list[str]] = PerConfig(lambda _c: [], on_drop=dropped.append)
    current = load(tmp_path)
    derived.get(current).append("old pools")
    in_flight = current  # a request (or a shadow job) that started before the reload
    current = load(tmp_path, "b.yaml", port=2)
    derived.get(current).append("new pools")
    gc.collect()
    assert dropped == []  # still in use: closing now would cut the call
    assert len(derived) == 2
    del in_flight
    gc.collect()
    assert dropped == [["old pools"]]
    assert derived.values() == [["new pools"]]


def test_threads_asking_at_once_share_one_value(tmp_path: Path) -> None:
    loaded = load(tmp_path)
    derived: PerConfig[object] = PerConfig(lambda _c: object())
    seen: list[object] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        seen.append(derived.get(loaded))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(value) for value in seen}) == 1


def test_a_configuration_freed_while_its_cache_is_locked_is_still_dropped(
    tmp_path: Path,
) -> None:
    # the collector frees a configuration caught in a cycle (an exception's traceback holding
    # a request's frame) at any allocation: also inside get()'s locked section, in the thread
    # holding the lock; its drop must not wait for that lock forever (the loop would hang)
    dropped: list[list[str]] = []
    derived: PerConfig[list[str]] = PerConfig(lambda _c: [], on_drop=dropped.append)
    held = [load(tmp_path)]
    derived.get(held[0]).append("old")

    def free_while_locked() -> None:
        with derived._lock:
            held.clear()

    thread = threading.Thread(target=free_while_locked, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the drop waited for a lock its own thread holds"
    assert dropped == [["old"]]
