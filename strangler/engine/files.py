"""The files a running Envoy watches, swapped all at once (the Kubernetes ConfigMap trick).

``live/`` holds ``cds.json``, ``lds.json`` and ``rds.json`` as symlinks into ``live/..data``,
itself a symlink to one version directory (``..v000001``). A new version is written whole into
a directory of its own, then ``..data`` is replaced by ``rename(2)`` of a new symlink over it:
one atomic step, and a move into the watched directory, which is what makes Envoy reread the
three files (``watched_directory``). Envoy therefore never reads half a file, nor a new
``rds.json`` beside an old ``cds.json`` on disk.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DATA = "..data"
_PREFIX = "..v"


class Swapper:
    """Owns ``live``: ``install`` puts one set of files in force, atomically."""

    def __init__(self, live: Path, names: tuple[str, ...]) -> None:
        self.live = live
        self.names = names
        self.version = 0
        live.mkdir(parents=True, exist_ok=True)

    @property
    def current(self) -> Path | None:
        """The version directory in force, or None before the first ``install``."""
        data = self.live / DATA
        return self.live / os.readlink(data) if data.is_symlink() else None

    def install(self, files: dict[str, str]) -> Path:
        """Write ``files`` (name -> text, exactly ``names``) as a new version and swap it in;
        older versions but the one it replaced are removed (Envoy may still be reading it)."""
        if set(files) != set(self.names):
            raise ValueError(f"expected the files {sorted(self.names)}, got {sorted(files)}")
        self.version += 1
        name = f"{_PREFIX}{self.version:06d}"
        target = self.live / name
        target.mkdir()
        for file, text in files.items():
            with (target / file).open("w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
        previous = self.current
        tmp = self.live / f"{DATA}_tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(name)
        os.replace(tmp, self.live / DATA)  # the one atomic step
        for file in self.names:
            link = self.live / file
            if not link.is_symlink():
                link.symlink_to(f"{DATA}/{file}")
        self._prune(keep={name, previous.name if previous else name})
        return target

    def _prune(self, keep: set[str]) -> None:
        for entry in self.live.iterdir():
            if entry.name.startswith(_PREFIX) and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)


__all__ = ["DATA", "Swapper"]
