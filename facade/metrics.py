"""Prometheus metrics, one registry per application (so tests and workers do not share)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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
            "Observations written to the result store by this process.",
            registry=self.registry,
        )
        self.store_dropped = Gauge(
            "strangler_store_dropped",
            "Observations this process could not store (store down, locked, or queue full), "
            "by capability.",
            ["capability"],
            registry=self.registry,
        )
        self.store_examples_dropped = Gauge(
            "strangler_store_examples_dropped",
            "Examples (bodies and differences) not stored because the capability's share of "
            "the store (store.max_bytes_per_capability) was full; each is still counted.",
            ["capability"],
            registry=self.registry,
        )
        self.store_counted_only = Gauge(
            "strangler_store_counted_only",
            "Comparisons that did not match, counted without their bodies: past "
            "store.examples_per_signature in store.example_window.",
            registry=self.registry,
        )
        self.store_up = Gauge(
            "strangler_store_up",
            "1 when the last write to the result store succeeded.",
            registry=self.registry,
        )
        self.legacy_up = Gauge(
            "strangler_legacy_up",
            "1 when the monolith answered the last probe.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "strangler_in_flight_requests", "Requests being proxied now.", registry=self.registry
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
            "(circuit_open, bulkhead_full, connect_error, timeout, upstream_error, server_error).",
            ["capability", "reason"],
            registry=self.registry,
        )
        # client connections (facade/connections.py): per process, like every metric here
        self.client_connections = Gauge(
            "strangler_client_connections",
            "Client connections open now.",
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
        """Expose ``strangler_breaker_state`` from ``states()`` (service, value) at each scrape."""
        self.registry.register(_BreakerStates(states))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


BREAKER_STATE = "strangler_breaker_state"


class _BreakerStates(Collector):
    def __init__(self, states: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self._states = states

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            BREAKER_STATE,
            "Circuit breaker state per service: 0 closed, 1 half-open, 2 open.",
            labels=["service"],
        )
        for service, value in self._states():
            family.add_metric([service], value)
        yield family
