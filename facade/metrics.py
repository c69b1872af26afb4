"""Prometheus metrics, one registry per application (so tests in one process do not share).

Under ``strangler serve --workers N`` the supervisor gives the workers one directory in
``$PROMETHEUS_MULTIPROC_DIR`` (``facade.server``) and prometheus_client writes every value to
a memory-mapped file there: a scrape, whichever worker answers it, reads all the files, so
counters and histograms are the sum over the workers (those of a replaced worker included:
they stay monotonic), gauges that add up (in-flight, connections) are the sum over the live
workers, and those a sum would make meaningless (``strangler_store_up``, ``strangler_legacy_up``,
``strangler_breaker_state``) carry a ``pid`` label, one sample per live worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# read by prometheus_client when it is imported: set before a worker starts, never after
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def shared_dir() -> str | None:
    """The directory the workers of this facade share their values in; None: one process."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared = shared_dir()
        # what a scrape reads: this registry alone, or every worker's files
        self._exposed = self.registry
        if self.shared is not None:
            self._exposed = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(self._exposed, path=self.shared)  # type: ignore[no-untyped-call]
        self._breaker_states: Callable[[], Iterable[tuple[str, int]]] | None = None
        self._breaker_gauge: Gauge | None = None
        self.requests = Counter(
            "strangler_requests",
            "Requests answered, by capability ('-' for none), mode, who served, and status.",
            ["capability", "mode", "served_by", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "strangler_request_duration_seconds",
            "Time to the end of the answer, by capability and who served.",
            ["capability", "served_by"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "strangler_rejected_requests",
            "Requests refused before any upstream saw them, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "strangler_upstream_errors",
            "Upstream calls that failed, by upstream and kind (unavailable, timeout).",
            ["upstream", "kind"],
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "strangler_config_reloads",
            "routes.yaml reloads, by outcome (applied, rejected).",
            ["outcome"],
            registry=self.registry,
        )
        self.shadow_comparisons = Counter(
            "strangler_shadow_comparisons",
            "Shadow comparisons made, by capability and outcome (match, mismatch, "
            "candidate_error).",
            ["capability", "outcome"],
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "strangler_shadow_dropped",
            "Shadow work dropped rather than let it slow a request, by capability and reason.",
            ["capability", "reason"],
            registry=self.registry,
        )
        self.store_written = Gauge(
            "strangler_store_written",
            "Observations written to the result store (by every worker).",
            multiprocess_mode="sum",
            registry=self.registry,
        )
        self.store_dropped = Gauge(
            "strangler_store_dropped",
            "Observations the facade could not store (store down, locked, or queue full), "
            "by capability.",
            ["capability"],
            multiprocess_mode="sum",
            registry=self.registry,
        )
        self.store_examples_dropped = Gauge(
            "strangler_store_examples_dropped",
            "Examples (bodies and differences) not stored because the capability's share of "
            "the store (store.max_bytes_per_capability) was full; each is still counted.",
            ["capability"],
            multiprocess_mode="sum",
            registry=self.registry,
        )
        self.store_counted_only = Gauge(
            "strangler_store_counted_only",
            "Comparisons that did not match, counted without their bodies: past "
            "store.examples_per_signature in store.example_window.",
            multiprocess_mode="sum",
            registry=self.registry,
        )
        self.store_up = Gauge(
            "strangler_store_up",
            "1 when the last write to the result store succeeded.",
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        self.legacy_up = Gauge(
            "strangler_legacy_up",
            "1 when the monolith answered the last probe.",
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "strangler_in_flight_requests",
            "Requests being proxied now.",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        # resilience of service calls (facade/resilience/); the breaker state gauge is read
        # from the live breakers at scrape time (watch_breakers), so open -> half-open shows
        # when open_for has passed even if no request asked since
        self.breaker_transitions = Counter(
            "strangler_breaker_transitions",
            "Circuit breaker state changes, by service, from and to state.",
            ["service", "from_state", "to_state"],
            registry=self.registry,
        )
        self.service_retries = Counter(
            "strangler_service_retries",
            "Service calls tried again (idempotent methods only), by service.",
            ["service"],
            registry=self.registry,
        )
        self.retry_budget_exhausted = Counter(
            "strangler_retry_budget_exhausted",
            "Retries not made because the service's retry budget was spent, by service.",
            ["service"],
            registry=self.registry,
        )
        self.service_rejected = Counter(
            "strangler_service_rejected",
            "Service calls the facade held back, by service and reason (circuit_open, "
            "bulkhead_full).",
            ["service", "reason"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "strangler_fallbacks",
            "Requests for a service served by the monolith instead, by capability and reason "
            "(circuit_open, bulkhead_full, connect_error, timeout, upstream_error, server_error, "
            "untranslatable_request).",
            ["capability", "reason"],
            registry=self.registry,
        )
        # client connections (facade/connections.py)
        self.client_connections = Gauge(
            "strangler_client_connections",
            "Client connections open now.",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.client_connections_refused = Counter(
            "strangler_client_connections_refused",
            "Client connections over limits.max_client_connections (answered 503 and closed).",
            registry=self.registry,
        )
        self.client_timeouts = Counter(
            "strangler_client_timeouts",
            "Client connections closed for being slow, by phase (headers).",
            ["phase"],
            registry=self.registry,
        )
        self.accept_errors = Counter(
            "strangler_accept_errors",
            "Connections the facade could not accept, by error (EMFILE, ENFILE, ...).",
            ["error"],
            registry=self.registry,
        )

        # traffic per monolith endpoint (facade/traffic.py): bounded labels, the inventory's
        # keys and "(unknown)"; added when the metrics are published, never per request
        self.endpoint_requests = Counter(
            "strangler_endpoint_requests",
            "Proxied requests by monolith endpoint (legacy.endpoints' inventory, '(unknown)' for "
            "none), method, capability ('' for none) and who served (legacy after a fallback).",
            ["endpoint", "method", "capability", "served_by"],
            registry=self.registry,
        )
        self.retired_reached_monolith = Counter(
            "strangler_retired_reached_monolith",
            "Requests the monolith answered that belong to a retired capability, by capability "
            "and endpoint: an alarm.",
            ["capability", "endpoint"],
            registry=self.registry,
        )
        self.endpoint_tallies_written = Gauge(
            "strangler_endpoint_tallies_written",
            "Requests counted per endpoint whose tallies reached the result store.",
            multiprocess_mode="sum",
            registry=self.registry,
        )
        self.endpoint_tallies_dropped = Gauge(
            "strangler_endpoint_tallies_dropped",
            "Requests counted per endpoint whose tallies could not be stored (store down, "
            "locked, or queue full); /metrics still counted them.",
            multiprocess_mode="sum",
            registry=self.registry,
        )
        self._publishers: list[Callable[[], None]] = []

        # labelled children by label values: labels() costs a lock and a tuple per call
        self._request_children: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}

    def record_request(
        self, capability: str, mode: str, served_by: str, status: int, seconds: float
    ) -> None:
        """Count one answered request and its duration (the hot path: children are cached)."""
        key = (capability, mode, served_by, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(capability, mode, served_by, str(status)),
                self.latency.labels(capability, served_by),
            )
        children[0].inc()
        children[1].observe(seconds)

    def watch_breakers(self, states: Callable[[], Iterable[tuple[str, int]]]) -> None:
        """Expose ``strangler_breaker_state`` from ``states()`` (service, value) at each scrape.

        Shared by workers, a scrape cannot call into the others: each worker writes its states
        to its file (``publish``: at every scrape it answers, and every ``PUBLISH_INTERVAL``
        from ``facade.server``), one sample per service and worker (``pid``)."""
        if self.shared is None:
            self.registry.register(_BreakerStates(states))
            return
        self._breaker_states = states
        self._breaker_gauge = Gauge(
            BREAKER_STATE,
            BREAKER_HELP,
            ["service"],
            multiprocess_mode="liveall",
            registry=self.registry,
        )

    def add_publisher(self, publish: Callable[[], None]) -> None:
        """Call ``publish`` whenever the metrics are published (on the loop): for values kept
        outside the registry between scrapes (facade/traffic.py's counts)."""
        self._publishers.append(publish)

    def publish(self) -> None:
        """Write what is read live in one process (breaker states, the publishers' values)
        where the others see it."""
        for publisher in self._publishers:
            publisher()
        if self._breaker_states is None or self._breaker_gauge is None:
            return
        for service, value in self._breaker_states():
            self._breaker_gauge.labels(service).set(value)

    def exposition(self) -> bytes:
        self.publish()
        return generate_latest(self._exposed)


BREAKER_STATE = "strangler_breaker_state"
BREAKER_HELP = "Circuit breaker state per service: 0 closed, 1 half-open, 2 open."
PUBLISH_INTERVAL = 0.5  # seconds: how stale another worker's breaker state may be


class _BreakerStates(Collector):
    def __init__(self, states: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self._states = states

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            BREAKER_STATE,
            BREAKER_HELP,
            labels=["service"],
        )
        for service, value in self._states():
            family.add_metric([service], value)
        yield family
