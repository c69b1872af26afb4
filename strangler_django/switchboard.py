"""routes.yaml as the Django project sees it: found, loaded, and re-read when the file changes.

Each seam call asks ``SWITCHBOARD.current()``. That costs one ``os.stat`` of the file: it is
parsed again only when its modification time, size or inode changed. A file that fails to
load is logged with its ``PATH:LINE`` problems and the previous configuration stays in force
(a bad edit must never switch a seam by accident); with no good configuration yet, every seam
runs legacy.

Where the file is: the Django setting ``STRANGLER_ROUTES`` (a path). ``None`` turns the seams
off (every call legacy); leaving it out is a configuration error the system checks report.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from facade.config import Config, Seam, load

log = logging.getLogger("strangler.seams")

_Stamp = tuple[int, int, int]


def routes_path_from_settings() -> Path | None:
    """``settings.STRANGLER_ROUTES`` as a path; None when unset or None."""
    from django.conf import settings  # read per call: tests override settings

    configured = getattr(settings, "STRANGLER_ROUTES", None)
    return Path(configured) if configured else None


class Switchboard:
    """The last good routes.yaml, reloaded when its stat changes; thread-safe."""

    def __init__(self, locate: Callable[[], Path | None] = routes_path_from_settings) -> None:
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
