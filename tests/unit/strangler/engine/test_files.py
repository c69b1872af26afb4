"""strangler.engine.files: each version written whole, then put in force by one rename."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from strangler.engine.files import DATA, Swapper

NAMES = ("cds.json", "lds.json", "rds.json")


def files(tag: str) -> dict[str, str]:
    return {name: f"{tag} {name}" for name in NAMES}


def test_the_watched_names_read_the_version_in_force(tmp_path: Path) -> None:
    swapper = Swapper(tmp_path / "live", NAMES)
    swapper.install(files("one"))
    assert (tmp_path / "live" / "rds.json").read_text() == "one rds.json"
    swapper.install(files("two"))
    for name in NAMES:
        link = tmp_path / "live" / name
        assert link.is_symlink()
        assert os.readlink(link) == f"{DATA}/{name}"
        assert link.read_text() == f"two {name}"


def test_the_swap_is_one_rename_of_the_data_link(tmp_path: Path) -> None:
    swapper = Swapper(tmp_path / "live", NAMES)
    first = swapper.install(files("one"))
    second = swapper.install(files("two"))
    assert swapper.current == second != first
    assert os.readlink(tmp_path / "live" / DATA) == second.name
    assert not (tmp_path / "live" / f"{DATA}_tmp").exists()


def test_only_the_version_in_force_and_the_one_before_are_kept(tmp_path: Path) -> None:
    swapper = Swapper(tmp_path / "live", NAMES)
    made = [swapper.install(files(str(n))) for n in range(4)]
    kept = sorted(p.name for p in (tmp_path / "live").iterdir() if p.name.startswith("..v"))
    assert kept == [made[2].name, made[3].name]


def test_a_set_with_a_file_missing_is_not_installed(tmp_path: Path) -> None:
    swapper = Swapper(tmp_path / "live", NAMES)
    swapper.install(files("one"))
    with pytest.raises(ValueError, match="expected the files"):
        swapper.install({"cds.json": "x"})
    assert (tmp_path / "live" / "cds.json").read_text() == "one cds.json"
