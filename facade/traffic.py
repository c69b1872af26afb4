"""Requests per monolith endpoint: counted on the loop, published to /metrics, stored per minute.

With ``legacy.endpoints`` named in routes.yaml, every proxied request is counted under the
monolith endpoint its normalized path resolves to (``facade.config.endpoints``: the inventory's
own index, a second compiled matcher; ``UNKNOWN_ENDPOINT`` for none), its method, the capability
that matched (or "") and the side that answered (``legacy``, also after a fallback, or the
service). The request's cost is a lookup in a per-configuration cache of (method, path) and a
dict increment; nothing else happens on its path:

- ``/metrics`` (``strangler_endpoint_requests_total``): the counts are added to the Prometheus
  counters when the metrics are published (each scrape, and every ``PUBLISH_INTERVAL`` under
  ``--workers N``, where the values go through prometheus_client's shared files);
- the store (``endpoint_tallies``): every ``FLUSH_INTERVAL`` seconds, on the wall clock's tens,
  so each batch lies within one minute, the loop swaps the counts for an empty dict and hands
  them to a thread, which writes them through a recorder of the ``store:`` in force
  (``facade.shadow.store.StoreFollower``, as the shadow worker does, so a reload that moves the
  store moves the tallies too). The recorder's writer thread owns the store: down or locked, the
  requests its batches counted are dropped and counted (``strangler_endpoint_tallies_dropped``),
  and writing resumes by itself. The last counts are flushed at a graceful stop.

The retired alarm: a request the monolith answered although it belongs to a retired
capability (the capability that matched is retired, or the endpoint's claim names one for that
method: ``facade.config.endpoints.retired_claims``) counts in
``strangler_retired_reached_monolith_total`` and logs a warning, at most once a minute per
capability.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from facade.config import Config
from facade.config.derived import PerConfig
from facade.config.endpoints import ANY_METHODS, UNKNOWN_ENDPOINT, retired_claims
from facade.metrics import Metrics
from facade.shadow.store import OpenRecorder, StoreFollower, open_recorder
from parallel_run.endpoint_traffic import LEGACY, EndpointTally
from parallel_run.store import minute_of

log = logging.getLogger("strangler.traffic")

FLUSH_INTERVAL = 10.0  # seconds between hand-overs of the counts to the store's thread
CLOSE_WAIT = 5.0  # seconds the last counts get to reach the store at a stop
MAX_CACHED = 10_000  # (method, path) lookups remembered per configuration
ALARM_LOG_INTERVAL = 60.0  # seconds between two warnings for one retired capability
RETIRE_WAIT = 5.0  # seconds a recorder replaced by a reload gets to write what it holds
# a client may send any token as a method: others are counted as OTHER (a bounded label set)
METHODS = frozenset((*ANY_METHODS, "CONNECT", "TRACE"))
OTHER_METHOD = "OTHER"

Key = tuple[str, str, str, str]  # endpoint, method, capability ("" for none), served_by


Seen = tuple[str, str, str, str]  # method, path, capability, served_by: as the request came


class _Lookup:
    """One configuration's inventory: the key a request is counted under, remembered, and the
    retired capabilities with the endpoints they claim."""

    __slots__ = ("cache", "claims", "index", "retired")

    def __init__(self, config: Config) -> None:
        inventory = config.inventory
        assert inventory is not None, "counted only with legacy.endpoints"
        self.index = inventory.index
        # bounded: a client inventing paths fills it once, then each is looked up afresh
        self.cache: dict[Seen, Key] = {}
        retired = [name for name, cap in config.routes.capabilities.items() if cap.retired]
        self.retired = frozenset(retired)
        self.claims = retired_claims(inventory, config.matcher, retired)

    def key(self, seen: Seen) -> Key:
        """The key a request is counted under (a cache miss of ``count``)."""
        method, path, capability, served_by = seen
        if method not in METHODS:
            method = OTHER_METHOD
        endpoint = self.index.match(method, path) or UNKNOWN_ENDPOINT
        key = (endpoint, method, capability, served_by)
        if len(self.cache) < MAX_CACHED:
            self.cache[seen] = key
        return key


class Traffic:
    """The per-process counts; ``count`` on the loop, the rest as the module says."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        current: Callable[[], Config],
        open_recorder: OpenRecorder = open_recorder,
        interval: float = FLUSH_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics
        self._interval = interval
        self._clock = clock
        self._lookups: PerConfig[_Lookup] = PerConfig(_Lookup)
        # the last configuration counted for, and its lookup: a reload's first request
        # replaces them (so at most one configuration is kept alive here, until then)
        self._last: tuple[Config, _Lookup] | None = None
        self._counts: dict[Key, int] = {}  # since ``_since``, on the loop only
        self._since = clock()
        self._published: dict[Key, int] = {}  # of ``_counts``, already in the counters
        self._children: dict[Key, Any] = {}  # the counters' children, by key
        self._alarm_logged: dict[str, float] = {}
        self.writer = TallyWriter(metrics, StoreFollower(current, open_recorder=open_recorder))
        metrics.add_publisher(self.publish)

    # the event loop's side ---------------------------------------------------------------

    def count(
        self, config: Config, method: str, path: str, capability: str, served_by: str
    ) -> None:
        """One proxied request (the hot path: a cached lookup and a dict increment)."""
        last = self._last
        if last is not None and last[0] is config:
            lookup = last[1]
        else:
            lookup = self._lookups.get(config)
            self._last = (config, lookup)
        seen = (method, path, capability, served_by)
        key = lookup.cache.get(seen) or lookup.key(seen)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1
        if lookup.retired and served_by == LEGACY:
            self._check_retired(lookup, key)

    def _check_retired(self, lookup: _Lookup, key: Key) -> None:
        endpoint, method, capability, _ = key
        retired = capability if capability in lookup.retired else None
        retired = retired or lookup.claims.get((endpoint, method))
        if retired is not None:
            self._alarm(retired, endpoint, method)

    def _alarm(self, capability: str, endpoint: str, method: str) -> None:
        self._metrics.retired_reached_monolith.labels(capability, endpoint).inc()
        now = time.monotonic()
        last = self._alarm_logged.get(capability)
        if last is None or now - last >= ALARM_LOG_INTERVAL:
            self._alarm_logged[capability] = now
            log.warning(
                "retired capability %r: %s %s reached the monolith (counted in "
                "strangler_retired_reached_monolith_total; next warning in %.0fs at most)",
                capability,
                method,
                endpoint,
                ALARM_LOG_INTERVAL,
            )

    def publish(self) -> None:
        """Add what was counted since the last publish to the Prometheus counters, and the
        store writer's figures to its gauges (on the loop: each scrape, or the workers' timer)."""
        published = self._published
        for key, n in self._counts.items():
            delta = n - published.get(key, 0)
            if delta:
                child = self._children.get(key)
                if child is None:
                    child = self._children[key] = self._metrics.endpoint_requests.labels(*key)
                child.inc(delta)
                published[key] = n
        self.writer.export()

    def take(self) -> tuple[datetime, dict[Key, int]] | None:
        """The counts since the last take, and the minute they belong to (the middle of the
        span: hand-overs at the wall clock's tens put each span in one minute); None if none."""
        self.publish()
        now = self._clock()
        counts, since = self._counts, self._since
        self._counts, self._published, self._since = {}, {}, now
        if not counts:
            return None
        middle = datetime.fromtimestamp((since + now) / 2, UTC)
        return minute_of(middle), counts

    def hand_over(self) -> None:
        taken = self.take()
        if taken is not None:
            self.writer.put(*taken)

    async def run(self) -> None:
        """Hand the counts to the writer every interval, on the wall clock's multiples of it
        (a moment later: the tick belongs to the span that ends), until cancelled; the
        writer's thread starts with the first counts."""
        while True:
            now = self._clock()
            await asyncio.sleep(self._interval - now % self._interval + 0.05)
            self.hand_over()

    async def close(self) -> None:
        """The last counts to the store, then the writer and its recorder stop (off the loop)."""
        self.hand_over()
        await asyncio.to_thread(self.writer.close, CLOSE_WAIT)


class TallyWriter:
    """The thread that turns counts into ``EndpointTally`` rows for the recorder in force."""

    def __init__(self, metrics: Metrics, store: StoreFollower) -> None:
        self._metrics = metrics
        self.store = store
        self._queue: queue.SimpleQueue[tuple[datetime, dict[Key, int]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._dropped = 0  # requests whose batch found no recorder (a bad store: setting)

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="strangler-endpoint-tallies", daemon=True
                )
                self._thread.start()

    def put(self, minute: datetime, counts: dict[Key, int]) -> None:
        """Never blocks (the loop calls it); at most one batch per interval waits here, the
        recorder's own queue bounds the rest."""
        self.start()
        self._queue.put((minute, counts))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            self.write(*item)

    def write(self, minute: datetime, counts: dict[Key, int]) -> None:
        tallies = [EndpointTally(minute, *key, n) for key, n in counts.items()]
        try:
            switched = self.store.follow()
            if switched is not None:
                self.store.retire(switched.old, timeout=RETIRE_WAIT)
            recorder = self.store.recorder
            assert recorder is not None
        except Exception as exc:  # the recorder could not be made: counted, tried next time
            log.warning("endpoint tallies not stored: %s: %s", type(exc).__name__, exc)
            with self._lock:
                self._dropped += sum(counts.values())
            return
        recorder.submit_endpoint_tallies(tallies)
        recorder.flush()

    def export(self) -> None:
        """The recorders' figures to the gauges (thread-safe: their counters are locked)."""
        stats = self.store.stats()
        with self._lock:
            dropped = self._dropped
        if stats is not None:
            self._metrics.endpoint_tallies_written.set(stats.endpoint_written)
            dropped += stats.endpoint_dropped
        self._metrics.endpoint_tallies_dropped.set(dropped)

    def close(self, timeout: float) -> None:
        """Write what was handed over, then close the recorder (blocks: off the loop)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
        self.store.close(timeout)
