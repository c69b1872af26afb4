"""Envoy's admin ``/stats/prometheus`` under the facade's own metric names (pure, no I/O).

``strangler export envoy`` gives every forwarding route a ``stat_prefix`` of
``<capability>~<served_by>`` (``strangler.export.envoy.stat_prefix``; ``-`` for requests of no
capability) and the facade's latency buckets (``stats_config``), so Envoy keeps per-route
upstream stats that this module renames:

- ``envoy_vhost_route_upstream_rq{envoy_route, envoy_response_code}``: one per request, its
  final status (a retry or a fallback is one request) -> ``strangler_requests_total{capability,
  mode, served_by, status}``, the mode being the capability's in ``config``;
- ``envoy_vhost_route_upstream_rq_time`` (ms) -> ``strangler_request_duration_seconds{capability,
  served_by}`` (s), bucket for bucket;
- the connection manager's active requests and connections -> ``strangler_in_flight_requests``,
  ``strangler_client_connections``.

What differs from the Python engine's figures (docs/engines.md, "Metrics"): a request the
service failed and the monolith then served (a fallback) is counted under the service, since
one route takes both; Envoy's latency is its router's, from the upstream request to the end of
the upstream's answer, not from the client's request to the end of the answer; what Envoy
answers itself (``/healthz``, rejections) is not counted; capabilities sent to the Python
facade (translators) are counted by that facade's own ``/metrics``, and left out here so that
a sum counts them once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from facade.config import Config

# the facade's names, labels and help (facade/metrics.py; a unit test checks they agree)
REQUESTS = "strangler_requests"
REQUESTS_HELP = "Requests answered, by capability ('-' for none), mode, who served, and status."
DURATION = "strangler_request_duration_seconds"
DURATION_HELP = "Time to the end of the answer, by capability and who served."
IN_FLIGHT = "strangler_in_flight_requests"
IN_FLIGHT_HELP = "Requests being proxied now."
CONNECTIONS = "strangler_client_connections"
CONNECTIONS_HELP = "Client connections open now."

# where the export's listener keeps its stats (strangler.export.envoy: the HCM's stat_prefix)
MANAGER = "strangler"
# served_by of the routes that go to the Python facade: counted there
SKIPPED = frozenset({"facade"})

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_WANTED = (
    "envoy_vhost_route_upstream_rq{",
    "envoy_vhost_route_upstream_rq_time_",
    "envoy_http_downstream_rq_active",
    "envoy_http_downstream_cx_active",
)

Labels = dict[str, str]


def samples(text: str) -> Iterator[tuple[str, Labels, float]]:
    """(name, labels, value) of the lines this module reads from Prometheus text."""
    for line in text.splitlines():
        if not line.startswith(_WANTED):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        pairs = {key: _unescape(raw) for key, raw in _LABEL.findall(labels or "")}
        try:
            yield name, pairs, float(value)
        except ValueError:
            continue


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def route_of(labels: Labels) -> tuple[str, str] | None:
    """(capability, served_by) of a route's stats, None for a route the export did not name."""
    capability, sep, served_by = labels.get("envoy_route", "").partition("~")
    if not sep or not capability or not served_by or served_by in SKIPPED:
        return None
    return capability, served_by


def _bound(seconds: float) -> str:
    """A bucket's ``le`` as prometheus_client writes the facade's: ``0.0025``, ``1.0``, ``+Inf``."""
    return "+Inf" if seconds == float("inf") else repr(seconds)


def _mode(config: Config, capability: str) -> str:
    cap = config.routes.capabilities.get(capability)
    return cap.mode if cap is not None else "legacy"


class _Families(Collector):
    def __init__(self, families: Iterable[object]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        yield from self._families


def facade_metrics(envoy_text: str, config: Config) -> str:
    """Envoy's Prometheus text (its admin ``/stats/prometheus``, for a configuration that
    ``strangler export envoy`` wrote from ``config``) as the facade's ``/metrics`` text."""
    requests: defaultdict[tuple[str, str, str, str], float] = defaultdict(float)
    buckets: defaultdict[tuple[str, str], defaultdict[float, float]] = defaultdict(
        lambda: defaultdict(float)
    )
    sums: defaultdict[tuple[str, str], float] = defaultdict(float)
    gauges: dict[str, float] = {}
    for name, labels, value in samples(envoy_text):
        if name.startswith("envoy_http_downstream_"):
            if labels.get("envoy_http_conn_manager_prefix") == MANAGER:
                gauges[name] = value
            continue
        route = route_of(labels)
        if route is None:
            continue
        capability, served_by = route
        if name == "envoy_vhost_route_upstream_rq":
            status = labels.get("envoy_response_code", "")
            requests[(capability, _mode(config, capability), served_by, status)] += value
        elif name == "envoy_vhost_route_upstream_rq_time_bucket":
            bound = float(labels.get("le", "+Inf"))
            buckets[route][bound / 1000] += value  # ms -> s; +Inf stays +Inf
        elif name == "envoy_vhost_route_upstream_rq_time_sum":
            sums[route] += value / 1000
    counter = CounterMetricFamily(
        REQUESTS, REQUESTS_HELP, labels=["capability", "mode", "served_by", "status"]
    )
    for key, value in sorted(requests.items()):
        counter.add_metric(list(key), value)
    histogram = HistogramMetricFamily(DURATION, DURATION_HELP, labels=["capability", "served_by"])
    for route, counts in sorted(buckets.items()):
        histogram.add_metric(
            list(route),
            [(_bound(bound), counts[bound]) for bound in sorted(counts)],
            sum_value=sums[route],
        )
    in_flight = GaugeMetricFamily(IN_FLIGHT, IN_FLIGHT_HELP)
    in_flight.add_metric([], gauges.get("envoy_http_downstream_rq_active", 0.0))
    connections = GaugeMetricFamily(CONNECTIONS, CONNECTIONS_HELP)
    connections.add_metric([], gauges.get("envoy_http_downstream_cx_active", 0.0))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families([counter, histogram, in_flight, connections]))
    return generate_latest(registry).decode("utf-8")
