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
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from facade.config import Config
from facade.config.evidence import recorder_options, store_settings
from parallel_run.recorder import Recorder, RecorderStats
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
        # the counters of recorders a reload replaced stay in the totals /metrics shows: of
        # those still draining, and of those closed (summed, the recorders let go)
        self._lock = threading.Lock()
        self._draining: list[Recorder] = []
        self._closed: RecorderStats | None = None

    def follow(self) -> Switched | None:
        """Open the recorder the configuration in force asks for, if it is not open yet."""
        config = self._current()
        if self._seen is not None and self._seen() is config:
            return None  # the usual case: no reload since the last comparison
        key = store_key(config)
        if key == self._key:
            self._seen = weakref.ref(config)
            return None  # a reload that left store: alone
        old, old_url = self.recorder, self.settings.url if self.settings else None
        settings = store_settings(config)
        # if this raises, the next comparison tries again: never recorded by the old settings
        new = self._open(settings, config)
        with self._lock:  # one step for stats(): the old one's counts are never lost nor doubled
            self.recorder = new
            if old is not None:
                self._draining.append(old)
        self.settings = settings
        self._key = key
        self._seen = weakref.ref(config)
        if old is None:
            return None
        moved = old_url != self.settings.url
        # no URL in the line: a database URL may carry a password
        log.info(
            "store: settings changed%s; the previous recorder drains and closes",
            " (a new store.url)" if moved else "",
        )
        return Switched(old, url_changed=moved)

    def count_drops(self, counts: Mapping[str, int]) -> bool:
        """Hand drops to the recorder in force, from any thread (False: none open yet).

        Under the lock ``follow()`` swaps the recorder with: the drops reach the old one
        before it retires (it writes what it holds) or the new one, never one already closed.
        """
        with self._lock:
            if self.recorder is None:
                return False
            self.recorder.count_drops(counts)
            return True

    def retire(self, old: Recorder, *, timeout: float) -> None:
        """Let ``old`` (replaced by ``follow()``) write what it holds and close, without
        holding up comparisons."""
        thread = threading.Thread(
            target=self._retire, args=(old, timeout), name="strangler-recorder-retire", daemon=True
        )
        thread.start()
        self._retiring = [t for t in self._retiring if t.is_alive()] + [thread]

    def _retire(self, old: Recorder, timeout: float) -> None:
        old.close(timeout)
        with self._lock:
            self._draining.remove(old)
            self._closed = _summed([self._closed, old.stats()]) if self._closed else old.stats()

    def stats(self) -> RecorderStats | None:
        """The counters of every recorder this process opened, summed: a reload that changes
        ``store:`` never sets ``strangler_store_written`` back. None before the first."""
        with self._lock:
            current = self.recorder
            if current is None:
                return None
            earlier = [r.stats() for r in self._draining]
            if self._closed is not None:
                earlier.append(self._closed)
        return _summed([*earlier, current.stats()])

    def close(self, timeout: float) -> None:
        """Close the recorder in force and wait for retired ones (shutdown)."""
        if self.recorder is not None:
            self.recorder.close(timeout)
        for thread in self._retiring:
            thread.join(timeout)


def _summed(every: list[RecorderStats]) -> RecorderStats:
    """Counters added up; the state (store up, queue, last error) of the last one."""

    def added(counts: Iterable[dict[str, int]]) -> dict[str, int]:
        total: Counter[str] = Counter()
        for each in counts:
            total.update(each)
        return dict(total)

    return replace(
        every[-1],
        submitted=sum(s.submitted for s in every),
        written=sum(s.written for s in every),
        dropped=added(s.dropped for s in every),
        noise_dropped=sum(s.noise_dropped for s in every),
        counted_only=sum(s.counted_only for s in every),
        examples_dropped=added(s.examples_dropped for s in every),
    )
