"""What the Envoy export adds so Envoy's stats and access log say who served a request: route
stat prefixes and metadata, endpoint metadata, the facade's buckets, the JSON access log."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from facade.access_log import FIELDS
from facade.config import Config, load
from facade.metrics import LATENCY_BUCKETS
from strangler.export import envoy
from strangler.export.plan import Options
from tests.support.export_routes import every_mode

OPTIONS = Options(facade_url="http://127.0.0.1:9000", compare_url="http://127.0.0.1:9001")
LOGGED = dataclasses.replace(OPTIONS, access_log="json")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return every_mode(tmp_path)


def manager(boot: dict[str, Any]) -> dict[str, Any]:
    typed: dict[str, Any] = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][
        0
    ]["typed_config"]
    return typed


def routes(boot: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = manager(boot)["route_config"]["virtual_hosts"][0]["routes"]
    return found


@pytest.mark.parametrize(
    ("cluster", "served_by"),
    [
        ("legacy", "legacy"),
        ("service.svc", "svc"),
        ("fallback.svc", "svc"),
        ("fallback-unsafe.other", "other"),
        ("facade", "facade"),
    ],
)
def test_a_cluster_serves_as_the_facade_names_it(cluster: str, served_by: str) -> None:
    assert envoy.served_by(cluster) == served_by


def test_every_forwarding_route_is_counted_under_its_capability_and_who_serves(
    config: Config,
) -> None:
    for route in routes(envoy.bootstrap(config, OPTIONS)):
        if "route" not in route:
            assert "stat_prefix" not in route  # direct answers: no upstream stats
            continue
        capability = route["name"].split(" ")[0]
        served_by = envoy.served_by(route["route"]["cluster"])
        if route["name"] == "legacy":  # the catch-all
            assert route["stat_prefix"] == "-~legacy"
            # no capability: only the body limit the edge filter reads
            assert route["metadata"]["filter_metadata"] == {
                envoy.EDGE_FILTER: {"max_body": config.routes.limits.max_body}
            }
            continue
        assert route["stat_prefix"] == envoy.stat_prefix(capability, served_by)
        mode = config.routes.capabilities[capability].mode
        assert route["metadata"]["filter_metadata"]["strangler"] == {
            "capability": capability,
            "mode": mode,
        }


def test_a_canary_is_counted_per_side_and_keeps_its_lua_metadata(config: Config) -> None:
    split = {r["name"]: r for r in routes(envoy.bootstrap(config, OPTIONS)) if "split" in r["name"]}
    sides = {r["stat_prefix"] for r in split.values()}
    assert sides == {"split~svc", "split~legacy"}
    legacy_side = next(r for name, r in split.items() if name.endswith(" legacy"))
    assert set(legacy_side["metadata"]["filter_metadata"]) == {
        envoy.LUA_FILTER,
        envoy.EDGE_FILTER,
        "strangler",
    }


def test_every_endpoint_names_who_it_serves_as(config: Config) -> None:
    for cluster in envoy.bootstrap(config, OPTIONS)["static_resources"]["clusters"]:
        if "load_assignment" not in cluster:
            continue  # a composite: its members' endpoints answer
        for endpoint in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]:
            assert endpoint["metadata"]["filter_metadata"]["strangler"] == {
                "served_by": envoy.served_by(cluster["name"])
            }


def test_route_latencies_use_the_facades_buckets_in_milliseconds(config: Config) -> None:
    settings = envoy.bootstrap(config, OPTIONS)["stats_config"]["histogram_bucket_settings"]
    assert settings == [
        {
            "match": {"prefix": "vhost.strangler.route."},
            "buckets": [bound * 1000 for bound in LATENCY_BUCKETS],
        }
    ]


def test_no_access_log_unless_asked(config: Config) -> None:
    hcm = manager(envoy.bootstrap(config, OPTIONS))
    assert "access_log" not in hcm
    assert envoy.ACCESS_LOG_FILTER not in [f["name"] for f in hcm["http_filters"]]


def test_the_access_log_has_the_facades_keys_and_its_lua_runs_before_the_router(
    config: Config,
) -> None:
    hcm = manager(envoy.bootstrap(config, LOGGED))
    (logger,) = hcm["access_log"]
    assert set(logger["typed_config"]["log_format"]["json_format"]) == set(FIELDS)
    names = [f["name"] for f in hcm["http_filters"]]
    assert names[-2:] == [envoy.ACCESS_LOG_FILTER, "envoy.filters.http.router"]


def test_the_lua_redacts_the_built_in_names_and_the_configured_ones(tmp_path: Path) -> None:
    config = every_mode(tmp_path)
    path = tmp_path / "routes.yaml"
    path.write_text(path.read_text() + "store: {redact_fields: [Session_Key]}\n")
    source = envoy.access_log_lua(load(path))
    assert 'SECRET_NAMES = {["access_token"] = true,' in source
    for name in ("token", "password", "code", "session_key"):
        assert f'["{name}"] = true' in source
    assert "SECRET_NAMES = {}" not in source
    assert envoy.access_log_lua(config).count("= true") == 6  # the built-in names alone
