"""Writing routes.yaml: atomic, permission bits kept, never over a concurrent change, one
editor at a time."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from strangler.lifecycle import routes_file


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_write_replaces_the_file_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("old\n")
    path.chmod(0o640)
    inode = path.stat().st_ino
    _, digest = routes_file.read(path)
    routes_file.write_atomic(path, b"new\n", expect_digest=digest)
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode  # renamed into place, never written in place
    assert leftovers(tmp_path) == []


def test_a_symlinked_routes_file_is_written_through_and_the_link_stays(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("old\n")
    link = tmp_path / "routes.yaml"
    link.symlink_to(real)
    _, digest = routes_file.read(link)
    routes_file.write_atomic(link, b"new\n", expect_digest=digest)
    assert link.is_symlink()
    assert real.read_bytes() == b"new\n"


def test_a_change_made_meanwhile_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("mine\n")
    _, digest = routes_file.read(path)
    path.write_text("someone else's save\n")
    committed: list[bool] = []
    with pytest.raises(routes_file.ConcurrentChange, match="changed while"):
        routes_file.write_atomic(
            path, b"new\n", expect_digest=digest, before_commit=lambda: committed.append(True)
        )
    assert path.read_text() == "someone else's save\n"
    assert committed == []  # the audit record is not written for a change that did not happen
    assert leftovers(tmp_path) == []


def test_a_failing_before_commit_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("old\n")
    _, digest = routes_file.read(path)

    def store_down() -> None:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError, match="store down"):
        routes_file.write_atomic(path, b"new\n", expect_digest=digest, before_commit=store_down)
    assert path.read_text() == "old\n"
    assert leftovers(tmp_path) == []


def test_a_second_editor_waits_for_the_lock_then_times_out_with_a_clear_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("x\n")
    with routes_file.locked(path):
        started = time.monotonic()
        with (
            pytest.raises(routes_file.LockTimeout, match="another strangler command"),
            routes_file.locked(path, timeout=0.3),
        ):
            pass
        assert 0.25 <= time.monotonic() - started < 3
    with routes_file.locked(path, timeout=0.3):  # released: free again
        pass


def test_the_lock_serializes_read_modify_write_across_threads(tmp_path: Path) -> None:
    path = tmp_path / "counter"
    path.write_text("0")

    def bump() -> None:
        for _ in range(10):
            with routes_file.locked(path, timeout=30):
                data, digest = routes_file.read(path)
                routes_file.write_atomic(path, str(int(data) + 1).encode(), expect_digest=digest)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_text() == "40"
    assert os.path.exists(routes_file.lock_path(path))
