"""The host lock behind a relay's lease holder name: one relay per direction on a host keeps
a name across restarts; a second one gets its own and waits as a standby."""

from __future__ import annotations

from pathlib import Path

from strangler.data.sync import HostLock


def test_the_host_lock_is_held_once_and_free_again_when_released(tmp_path: Path) -> None:
    first = HostLock(tmp_path / "sync" / "inventory.forward.lock")
    second = HostLock(first.path)

    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()
