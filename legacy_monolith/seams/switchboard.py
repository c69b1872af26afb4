"""routes.yaml as the monolith sees it: found, loaded, and re-read when the file changes.

Each seam call asks ``SWITCHBOARD.current()``. That costs one ``os.stat`` of the file: it is
parsed again only when its modification time, size or inode changed. A file that fails to
load is logged with its ``PATH:LINE`` problems and the previous configuration stays in force
(a bad edit must never switch a seam by accident); with no good configuration yet, every seam
runs legacy.

Where the file is: ``$STRANGLER_ROUTES``, else the Django setting ``STRANGLER_ROUTES``; with
neither, there are no seams and the monolith runs as it always did.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final

from facade.config import Config, Seam, load

log = logging.getLogger("strangler.seams")

ROUTES_ENV: Final = "STRANGLER_ROUTES"
# each seam and the keys its call sites offer for `sticky:`
SEAMS: Final[Mapping[str, frozenset[str]]] = {
    "pricing": frozenset({"customer"}),
    "inventory": frozenset({"sku"}),
}
# seams whose calls hold state on one side (a reservation, then its release): a share below
# 100% must be sticky, or a reservation made on one side is released on the other
STATEFUL: Final = frozenset({"inventory"})
WARNING: Final = 5  # problem numbers from here on are warnings

_Stamp = tuple[int, int, int]


def routes_path_from_environment() -> Path | None:
    raw = os.environ.get(ROUTES_ENV, "").strip()
    if raw:
        return Path(raw)
    from django.conf import settings

    configured = getattr(settings, "STRANGLER_ROUTES", None)
    return Path(configured) if configured else None


class Switchboard:
    """The last good routes.yaml, reloaded when its stat changes; thread-safe."""

    def __init__(self, locate: Callable[[], Path | None] = routes_path_from_environment) -> None:
        self._locate = locate
        self._lock = threading.Lock()
        self._config: Config | None = None
        self._stamp: tuple[Path, _Stamp] | None = None
        self.last_error: str | None = None

    def current(self) -> Config | None:
        path = self._locate()
        if path is None:
            return None
        try:
            info = path.stat()
        except OSError:
            return self._config  # gone for a moment (an editor's rename): keep what we had
        stamp = (path, (info.st_mtime_ns, info.st_size, info.st_ino))
        if stamp == self._stamp:
            return self._config
        with self._lock:
            if stamp != self._stamp:
                self._reload(path)
                self._stamp = stamp
        return self._config

    def seam(self, name: str) -> tuple[Config | None, Seam | None]:
        config = self.current()
        return config, None if config is None else config.routes.seams.get(name)

    def _reload(self, path: Path) -> None:
        try:
            config = load(path)
        except ValueError as exc:  # facade.errors.ConfigError: only facade.config is ours to use
            self.last_error = str(exc)
            log.error("routes file not reloaded, the seams keep their settings:\n%s", exc)
            return
        self._config = config
        self.last_error = None
        modes = {name: seam.implementation for name, seam in config.routes.seams.items()}
        log.info("seams from %s: %s", path, modes or "none")


SWITCHBOARD = Switchboard()


def seam_problems(board: Switchboard) -> Iterator[tuple[int, str, str]]:
    """(number, message, hint) for each problem ``manage.py check`` should report."""
    config = board.current()
    if board.last_error is not None:
        yield 1, f"routes file does not load: {board.last_error}", "fix it; seams run legacy"
    if config is None:
        return
    for name, seam in config.routes.seams.items():
        if name not in SEAMS:
            known = ", ".join(sorted(SEAMS))
            yield 2, f"seam {name!r} is not a seam of this monolith", f"known seams: {known}"
            continue
        if seam.implementation != "legacy" and seam.service is None:
            yield (
                3,
                f"seam {name!r} is {seam.implementation} but names no service",
                "add service: <a name under services:>",
            )
        if seam.sticky is not None and seam.sticky not in SEAMS[name]:
            keys = ", ".join(sorted(SEAMS[name]))
            yield (
                4,
                f"seam {name!r}: sticky {seam.sticky!r} is not a key it offers",
                f"one of: {keys}",
            )
        partial = seam.implementation != "legacy" and 0 < seam.percent < 100
        if name in STATEFUL and partial and seam.sticky is None:
            yield (
                WARNING,
                f"seam {name!r} at {seam.percent:g}% draws each call apart: a reservation and "
                "its release may take different sides",
                "add sticky: sku",
            )
