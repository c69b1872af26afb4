"""The recorder the compare worker writes through, following routes.yaml's ``store:``.

Redaction is a security boundary: once a reload adds a field to ``store.redact_fields``, the
next observation recorded must not carry it. Every ``store:`` setting (the URL, redaction,
body limit, retention, size bound, example sampling) is read from the configuration in force
when an observation is submitted; a reload that changes any of them opens a new recorder, and
the old one drains what it already holds (redacted by the rules in force when it was
submitted) and closes, in a thread of its own so comparisons go on meanwhile.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from facade.config import Config
from facade.config.evidence import recorder_options, store_settings
from parallel_run.recorder import Recorder
from parallel_run.store_settings import StoreSettings

log = logging.getLogger("strangler.shadow")

OpenRecorder = Callable[[StoreSettings, Config], Recorder]


def open_recorder(settings: StoreSettings, config: Config) -> Recorder:
    """A started recorder for ``settings``; its thread opens the store when it first writes, so
    a store that is down costs dropped observations, never a failed facade."""
    return Recorder.for_store(settings, **recorder_options(config)).start()


def store_key(config: Config) -> tuple[object, ...]:
    """What a recorder is built from: two configurations with equal keys share one."""
    return (config.store_url, config.routes.store, config.base_dir)


@dataclass(frozen=True, slots=True)
class Switched:
    """A reload changed the store settings: ``old`` is to be flushed into, then retired."""

    old: Recorder
    url_changed: bool


class StoreFollower:
    """The recorder for the configuration in force (the compare worker's thread only)."""

    def __init__(
        self, current: Callable[[], Config], *, open_recorder: OpenRecorder = open_recorder
    ) -> None:
        self._current = current
        self._open = open_recorder
        self._seen: weakref.ref[Config] | None = None  # never keeps a configuration alive
        self._key: tuple[object, ...] | None = None
        self.recorder: Recorder | None = None
        self.settings: StoreSettings | None = None
        self._retiring: list[threading.Thread] = []

    def follow(self) -> Switched | None:
        """Open the recorder the configuration in force asks for, if it is not open yet."""
        config = self._current()
        if self._seen is not None and self._seen() is config:
            return None  # the usual case: no reload since the last comparison
        self._seen = weakref.ref(config)
        key = store_key(config)
        if key == self._key:
            return None  # a reload that left store: alone
        old, old_url = self.recorder, self.settings.url if self.settings else None
        self.settings = store_settings(config)
        self.recorder = self._open(self.settings, config)
        self._key = key
        if old is None:
            return None
        moved = old_url != self.settings.url
        # no URL in the line: a database URL may carry a password
        log.info(
            "store: settings changed%s; the previous recorder drains and closes",
            " (a new store.url)" if moved else "",
        )
        return Switched(old, url_changed=moved)

    def retire(self, old: Recorder, *, timeout: float) -> None:
        """Let ``old`` write what it holds and close, without holding up comparisons."""
        thread = threading.Thread(
            target=old.close, args=(timeout,), name="strangler-recorder-retire", daemon=True
        )
        thread.start()
        self._retiring = [t for t in self._retiring if t.is_alive()] + [thread]

    def close(self, timeout: float) -> None:
        """Close the recorder in force and wait for retired ones (shutdown)."""
        if self.recorder is not None:
            self.recorder.close(timeout)
        for thread in self._retiring:
            thread.join(timeout)
