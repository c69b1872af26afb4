"""The relay's own Prometheus metrics (``strangler data sync CAP --metrics HOST:PORT``).

The facade never reads the databases, so each relay serves its numbers itself, from its own
registry (not the process-global one: tests and a process running two directions stay apart).
Every series has the labels ``capability`` and ``direction``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics_core import Metric

from strangler.data.plan import Direction, Side

# the lag p99 bar is 1 s: resolve it, and a stuck relay's minutes
APPLY_DELAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LABELS = ("capability", "direction")


class _Beside:
    """Another registry's series, collected with this one's. The gauge ``strangler_sync_parked``
    and the counter ``strangler_sync_parked_total`` share a base name, which one registry
    refuses, though the exposition (``..._parked`` gauge, ``..._parked_total`` counter) is valid."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


class SyncMetrics:
    """The series of every relay of one process, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        beside = CollectorRegistry()
        self.lag = Gauge(
            "strangler_sync_lag_seconds",
            "Age of the oldest unapplied captured change (0 when none).",
            _LABELS,
            registry=r,
        )
        self.pending = Gauge(
            "strangler_sync_pending", "Captured changes not applied yet.", _LABELS, registry=r
        )
        self.parked = Gauge(
            "strangler_sync_parked",
            "Captured changes parked (see data status).",
            _LABELS,
            registry=r,
        )
        self.applied = Counter(
            "strangler_sync_applied",
            "Keys applied, by what the target did (upsert, delete, unchanged, stale).",
            (*_LABELS, "op"),
            registry=r,
        )
        self.parked_total = Counter(
            "strangler_sync_parked",
            "Changes parked, by stage (source, translate, target).",
            (*_LABELS, "stage"),
            registry=beside,
        )
        r.register(_Beside(beside))
        self.conflicts = Counter(
            "strangler_sync_conflicts",
            "Keys changed on both sides, by the side that won (legacy, service).",
            (*_LABELS, "winner"),
            registry=r,
        )
        self.errors = Counter(
            "strangler_sync_errors",
            "Failed batches, by kind (unavailable, locked, batch).",
            (*_LABELS, "kind"),
            registry=r,
        )
        self.fence_retries = Counter(
            "strangler_sync_fence_retries",
            "Keys left for the next batch because they changed while being read.",
            _LABELS,
            registry=r,
        )
        self.apply_delay = Histogram(
            "strangler_sync_apply_delay_seconds",
            "From capture to applied, per change.",
            _LABELS,
            buckets=APPLY_DELAY_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "strangler_sync_last_success_timestamp_seconds",
            "When a batch last went through (Unix time).",
            _LABELS,
            registry=r,
        )

    def of(self, capability: str, direction: Direction) -> RelayMetrics:
        return RelayMetrics(self, capability, direction)


@dataclass(frozen=True, slots=True)
class RelayMetrics:
    """One relay's view of ``SyncMetrics``: its label values filled in."""

    metrics: SyncMetrics
    capability: str
    direction: Direction

    def _labels(self) -> tuple[str, str]:
        return self.capability, self.direction

    def outbox(self, *, pending: int, parked: int, lag: float) -> None:
        m, labels = self.metrics, self._labels()
        m.pending.labels(*labels).set(pending)
        m.parked.labels(*labels).set(parked)
        m.lag.labels(*labels).set(lag)

    def applied(self, op: str, count: int) -> None:
        if count:
            self.metrics.applied.labels(*self._labels(), op).inc(count)

    def parked(self, stage: str, count: int) -> None:
        if count:
            self.metrics.parked_total.labels(*self._labels(), stage).inc(count)

    def conflict(self, winner: Side) -> None:
        self.metrics.conflicts.labels(*self._labels(), winner).inc()

    def error(self, kind: str) -> None:
        self.metrics.errors.labels(*self._labels(), kind).inc()

    def fence_retry(self, count: int) -> None:
        if count:
            self.metrics.fence_retries.labels(*self._labels()).inc(count)

    def delays(self, seconds: Iterable[float], *, at: float) -> None:
        histogram = self.metrics.apply_delay.labels(*self._labels())
        for delay in seconds:
            histogram.observe(max(0.0, delay))
        self.metrics.last_success.labels(*self._labels()).set(at)


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``:PORT`` (127.0.0.1); port 0 picks a free one. ValueError if bad."""
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def serve(metrics: SyncMetrics, host: str, port: int) -> WSGIServer:
    """``/metrics`` on a daemon thread; ``server.server_port`` is the bound port."""
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    return server
