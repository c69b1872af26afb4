"""strangler.engine.envoy_stats: Envoy's stats, captured from Envoy 1.40 running an exported
routes.yaml (envoy_stats_sample.prom), read back as the facade's metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from facade.config import Config, load
from facade.metrics import LATENCY_BUCKETS, Metrics
from strangler.engine.envoy_stats import facade_metrics

SAMPLE = (Path(__file__).parent / "envoy_stats_sample.prom").read_text()
# the routes.yaml the sample's Envoy ran (its upstreams are gone: only names matter here)
ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:18101"}
services:
  svc: {url: "http://127.0.0.1:18102"}
  gone: {url: "http://127.0.0.1:18109", connect_timeout: 1s}
capabilities:
  moved:
    match: [{path: /moved}, {methods: [POST], path: "/moved/{id}"}]
    service: gone
    mode: extracted
  flaky:
    match: [{methods: [GET], path: "/_status/{code}"}]
    service: svc
    mode: extracted
  ext:
    match: [{path: "/ext/{id}"}]
    service: svc
    mode: extracted
  can:
    match: [{path: "/can/{id}"}]
    service: svc
    mode: canary
    canary: {percent: 50, sticky: "header:X-Customer-Id"}
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    path = tmp_path_factory.mktemp("routes") / "routes.yaml"
    path.write_text(ROUTES)
    return load(path)


def parsed(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """sample name -> labels -> value."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def requests(text: str) -> dict[tuple[str, str, str, str], float]:
    return {
        (d["capability"], d["mode"], d["served_by"], d["status"]): value
        for labels, value in parsed(text)["strangler_requests_total"].items()
        for d in [dict(labels)]
    }


def test_requests_are_counted_per_capability_mode_served_by_and_status(config: Config) -> None:
    assert requests(facade_metrics(SAMPLE, config)) == {
        ("-", "legacy", "legacy", "200"): 1,
        ("can", "canary", "legacy", "200"): 2,
        ("can", "canary", "svc", "200"): 1,
        ("ext", "extracted", "svc", "200"): 3,
        # a 502 from the service, then from the monolith: one request, its final status
        ("flaky", "extracted", "svc", "502"): 1,
        # a read the monolith served after the service refused the connection: counted under
        # the service (one route takes both), unlike the Python engine
        ("moved", "extracted", "gone", "200"): 1,
        ("moved", "extracted", "gone", "503"): 1,  # a write: no fallback
    }


def test_latencies_are_the_facades_histogram_in_seconds(config: Config) -> None:
    found = parsed(facade_metrics(SAMPLE, config))
    buckets = {
        float(dict(labels)["le"]): value
        for labels, value in found["strangler_request_duration_seconds_bucket"].items()
        if dict(labels)["capability"] == "can" and dict(labels)["served_by"] == "legacy"
    }
    # the export sets Envoy's route histogram to the facade's own buckets (in ms)
    assert sorted(buckets) == [*LATENCY_BUCKETS, float("inf")]
    assert buckets[float("inf")] == 2
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative
    counts = found["strangler_request_duration_seconds_count"]
    assert counts[(("capability", "can"), ("served_by", "legacy"))] == 2
    sums = found["strangler_request_duration_seconds_sum"]
    assert 0 < sums[(("capability", "can"), ("served_by", "legacy"))] < 1  # seconds, not ms


def test_the_gauges_are_the_listeners_not_the_admins(config: Config) -> None:
    text = SAMPLE.replace(
        'envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="strangler"} 0',
        'envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="strangler"} 7',
    )
    found = parsed(facade_metrics(text, config))
    assert found["strangler_in_flight_requests"] == {(): 7}
    assert found["strangler_client_connections"] == {(): 0}


def test_routes_it_did_not_name_and_the_translating_facades_are_left_out(config: Config) -> None:
    extra = "\n".join(
        [
            'envoy_vhost_route_upstream_rq{envoy_response_code="200",envoy_virtual_host='
            '"strangler",envoy_route="ext~facade"} 4',  # counted by the Python facade itself
            'envoy_vhost_route_upstream_rq{envoy_response_code="200",envoy_virtual_host='
            '"other",envoy_route="handwritten"} 9',
            "envoy_vhost_route_upstream_rq{broken 1",
        ]
    )
    assert requests(facade_metrics(SAMPLE + extra + "\n", config)) == requests(
        facade_metrics(SAMPLE, config)
    )


def test_a_capability_no_longer_in_routes_yaml_keeps_its_counts_as_legacy(config: Config) -> None:
    line = (
        'envoy_vhost_route_upstream_rq{envoy_response_code="404",envoy_virtual_host='
        '"strangler",envoy_route="removed~legacy"} 2\n'
    )
    assert requests(facade_metrics(line, config)) == {("removed", "legacy", "legacy", "404"): 2}


def test_the_names_labels_and_help_are_the_facades(config: Config) -> None:
    empty = parsed(facade_metrics("", config))
    assert set(empty) == {"strangler_in_flight_requests", "strangler_client_connections"}
    ours = {
        family.name: family
        for family in text_string_to_metric_families(facade_metrics(SAMPLE, config))
    }
    metrics = Metrics()
    metrics.record_request("c", "legacy", "legacy", 200, 0.01)
    metrics.in_flight.inc(0)
    metrics.client_connections.inc(0)
    theirs = {
        family.name: family
        for family in text_string_to_metric_families(metrics.exposition().decode())
    }
    for name, family in ours.items():
        assert family.documentation == theirs[name].documentation, name
        assert family.type == theirs[name].type, name
        assert {frozenset(s.labels) for s in family.samples} <= {
            frozenset(s.labels) for s in theirs[name].samples
        }, name
