"""routes.yaml compiled into an Envoy bootstrap: what each mode and setting becomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from facade.config import Config, load
from strangler.export import envoy
from strangler.export.plan import ExportError, Options
from tests.support.export_routes import every_mode

OPTIONS = Options(
    listen=("0.0.0.0", 8080),
    facade_url="http://127.0.0.1:9000",
    compare_url="http://127.0.0.1:9001",
)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return every_mode(tmp_path)


def manager(boot: dict[str, Any]) -> dict[str, Any]:
    listener = boot["static_resources"]["listeners"][0]
    typed: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return typed


def routes(boot: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = manager(boot)["route_config"]["virtual_hosts"][0]["routes"]
    return found


def route(boot: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in routes(boot) if r["name"] == name)


def clusters(boot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in boot["static_resources"]["clusters"]}


def test_the_security_cases_are_set_on_the_connection_manager(config: Config) -> None:
    hcm = manager(envoy.bootstrap(config, OPTIONS))
    assert hcm["normalize_path"] is True
    assert hcm["merge_slashes"] is True
    assert hcm["path_with_escaped_slashes_action"] == "REJECT_REQUEST"
    assert hcm["common_http_protocol_options"]["headers_with_underscores_action"] == ("DROP_HEADER")
    assert hcm["http_protocol_options"] == {"allow_absolute_url": False}
    assert hcm["local_reply_config"]["body_format"]["content_type"] == "application/problem+json"
    assert hcm["skip_xff_append"] is True
    assert hcm["use_remote_address"] is True
    assert hcm["xff_num_trusted_hops"] == 0
    removed = [
        m.get("remove")
        for m in hcm["early_header_mutation_extensions"][0]["typed_config"]["mutations"]
    ]
    assert "x-forwarded-for" in removed  # at the edge: the client's own is not trusted
    assert "proxy-authorization" in removed
    buffer = next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.buffer")[
        "typed_config"
    ]
    assert buffer["max_request_bytes"] == config.routes.limits.max_body


def test_a_legacy_capability_keeps_its_place_before_wider_routes(config: Config) -> None:
    names = [r["name"] for r in routes(envoy.bootstrap(config, OPTIONS))]
    # /moved/special (legacy) is tried before /moved/{id} (extracted), as the matcher does
    assert names.index("special /moved/special safe") < names.index("moved /moved/{id} unsafe")
    assert names[-1] == "legacy"


def test_extracted_safe_requests_fall_back_through_a_composite_cluster(config: Config) -> None:
    boot = envoy.bootstrap(config, OPTIONS)
    action = route(boot, "moved /moved safe")["route"]
    assert action["cluster"] == "fallback.other"
    assert action["retry_policy"]["retry_on"] == "5xx,reset,connect-failure,refused-stream"
    members = clusters(boot)["fallback.other"]["cluster_type"]["typed_config"]["clusters"]
    assert [m["name"] for m in members] == ["service.other", "legacy"]
    # extracted: writes stay with the service, never retried or moved
    unsafe = route(boot, "moved /moved unsafe")["route"]
    assert unsafe["cluster"] == "service.other"
    assert "retry_policy" not in unsafe


def test_a_service_with_retries_gets_that_many_attempts_before_the_monolith(
    config: Config,
) -> None:
    boot = envoy.bootstrap(config, OPTIONS)
    members = clusters(boot)["fallback.svc"]["cluster_type"]["typed_config"]["clusters"]
    assert [m["name"] for m in members] == ["service.svc", "service.svc", "legacy"]
    service = route(boot, "split /split/{rest:path} safe service")["route"]
    assert service["retry_policy"]["num_retries"] == 2
    # a canary's writes the service never got may still go to the monolith
    unsafe = route(boot, "split /split/{rest:path} unsafe service")["route"]
    assert unsafe["cluster"] == "fallback-unsafe.svc"
    assert unsafe["retry_policy"]["retry_on"] == "connect-failure,refused-stream"


def test_a_canary_route_carries_its_split_for_the_lua_filter(config: Config) -> None:
    boot = envoy.bootstrap(config, OPTIONS)
    service = route(boot, "split /split/{rest:path} safe service")
    assert {"name": envoy.SIDE_HEADER, "string_match": {"exact": "service"}} in service["match"][
        "headers"
    ]
    legacy = route(boot, "split /split/{rest:path} safe legacy")
    assert legacy["route"]["cluster"] == "legacy"
    split = legacy["metadata"]["filter_metadata"][envoy.LUA_FILTER]["canary"]
    assert split == {"capability": "split", "percent": "30.0", "sticky": "header:X-Customer-Id"}
    names = [r["name"] for r in routes(boot)]
    assert names.index("split /split/{rest:path} safe service") < names.index(
        "split /split/{rest:path} safe legacy"
    )


def test_shadow_mirrors_safe_requests_to_the_compare_service(config: Config) -> None:
    boot = envoy.bootstrap(config, OPTIONS)
    safe = route(boot, "shadowed /shadowed/{id} safe")["route"]
    assert safe["cluster"] == "legacy"
    (mirror,) = safe["request_mirror_policies"]
    assert mirror["cluster"] == "compare"
    assert mirror["runtime_fraction"]["default_value"] == {
        "numerator": 1000,
        "denominator": "TEN_THOUSAND",
    }
    assert "request_mirror_policies" not in route(boot, "shadowed /shadowed/{id} unsafe")["route"]
    assert "compare" in clusters(boot)


def test_without_a_compare_service_nothing_is_mirrored(config: Config) -> None:
    boot = envoy.bootstrap(config, Options(facade_url="http://127.0.0.1:9000"))
    assert "request_mirror_policies" not in route(boot, "shadowed /shadowed/{id} safe")["route"]
    assert "compare" not in clusters(boot)


def test_a_translated_capability_goes_to_the_python_facade(config: Config) -> None:
    boot = envoy.bootstrap(config, OPTIONS)
    assert route(boot, "translated /translated safe")["route"]["cluster"] == "facade"
    with pytest.raises(ExportError, match="--facade-url"):
        envoy.bootstrap(config, Options())


def test_a_capabilitys_body_limit_is_set_on_its_routes(config: Config) -> None:
    boot = envoy.bootstrap(config, OPTIONS)
    per_route = route(boot, "moved /moved safe")["typed_per_filter_config"]
    assert per_route["envoy.filters.http.buffer"]["buffer"]["max_request_bytes"] == 1000  # 1KB


def test_trusted_hops_keep_the_forwarded_chain(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        'version: 1\nlegacy: {url: "http://127.0.0.1:8000"}\nforwarded: {trusted_hops: 2}\n'
    )
    hcm = manager(envoy.bootstrap(load(path), Options()))
    assert hcm["xff_num_trusted_hops"] == 2
    removed = [
        m.get("remove")
        for m in hcm["early_header_mutation_extensions"][0]["typed_config"]["mutations"]
    ]
    assert "x-forwarded-for" not in removed


def test_the_rendered_file_is_the_bootstrap_as_json(config: Config) -> None:
    text = envoy.render(config, OPTIONS)
    assert text.startswith("# compiled by `strangler export envoy`")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert json.loads(body) == envoy.bootstrap(config, OPTIONS)


def test_the_breaker_becomes_outlier_detection(config: Config) -> None:
    service = clusters(envoy.bootstrap(config, OPTIONS))["service.svc"]
    detection = service["outlier_detection"]
    assert detection["failure_percentage_threshold"] == 50
    assert detection["failure_percentage_request_volume"] == 20
    assert detection["base_ejection_time"] == "30s"
    assert service["circuit_breakers"]["thresholds"][0]["max_requests"] == 64


def test_put_and_delete_are_retried_where_writes_stay_with_the_service(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        'version: 1\nlegacy: {url: "http://127.0.0.1:8000"}\n'
        'services: {s: {url: "http://127.0.0.1:8001", retries: 2, timeout: 1s}}\n'
        "capabilities:\n"
        "  moved: {match: [{path: /m}], service: s, mode: extracted}\n"
        "  split: {match: [{path: /c}], service: s, mode: canary}\n"
    )
    boot = envoy.bootstrap(load(path), Options())
    retried = route(boot, "moved /m unsafe idempotent")
    assert {"name": ":method", "string_match": {"safe_regex": {"regex": "^(DELETE|PUT)$"}}} in (
        retried["match"]["headers"]
    )
    assert retried["route"]["cluster"] == "service.s"
    assert retried["route"]["timeout"] == "3s"
    policy = retried["route"]["retry_policy"]
    assert (policy["retry_on"], policy["num_retries"]) == (
        "gateway-error,reset,connect-failure,refused-stream",
        2,
    )
    assert "retry_policy" not in route(boot, "moved /m unsafe")["route"]  # POST: never
    # a canary's writes may still move to the monolith: no retry that could send one twice
    names = [r["name"] for r in routes(boot)]
    assert "split /c unsafe service idempotent" not in names


def test_the_edge_filter_comes_first_with_the_forwarding_rule_and_the_upstream_origins(
    config: Config,
) -> None:
    hcm = manager(envoy.bootstrap(config, OPTIONS))
    first = hcm["http_filters"][0]
    assert first["name"] == envoy.EDGE_FILTER  # before the buffer filter waits for a body
    source = first["typed_config"]["default_source_code"]["inline_string"]
    assert f"TRUSTED_HOPS = {config.routes.forwarded.trusted_hops}\n" in source
    assert json.dumps(config.routes.legacy.url.rstrip("/")) in source


def test_every_route_carries_its_body_limit_and_each_refusal_skips_the_buffer_and_lua(
    config: Config,
) -> None:
    found = routes(envoy.bootstrap(config, OPTIONS))
    for route in found:
        edge = route.get("metadata", {}).get("filter_metadata", {}).get(envoy.EDGE_FILTER)
        per_filter = route["typed_per_filter_config"]
        if route["name"].startswith("reject: "):
            assert route["direct_response"] == {"status": 400}
            # answered before the buffer filter would wait for a body
            assert per_filter["envoy.filters.http.buffer"]["disabled"] is True
            assert per_filter[envoy.EDGE_FILTER]["disabled"] is True
        elif "route" in route:
            assert edge is not None
            assert edge["max_body"] > 0
            assert envoy.EDGE_FILTER not in per_filter
    assert any(r["name"] == "reject: invalid Host header" for r in found)


def test_envoys_own_answers_are_problem_json(config: Config) -> None:
    reply = manager(envoy.bootstrap(config, OPTIONS))["local_reply_config"]
    assert reply["body_format"]["json_format"]["status"] == "%RESPONSE_CODE%"
    # a 501 (an unknown Transfer-Encoding) is a 400, as the facade answers it
    assert any(m.get("status_code") == 400 for m in reply["mappers"])


def test_the_canary_filter_runs_only_on_a_canarys_monolith_route(config: Config) -> None:
    for route in routes(envoy.bootstrap(config, OPTIONS)):
        per_filter = route["typed_per_filter_config"]
        carries_split = envoy.LUA_FILTER in route.get("metadata", {}).get("filter_metadata", {})
        assert (envoy.LUA_FILTER not in per_filter) == carries_split, route["name"]
    assert any(
        route["name"] == "split /split/{rest:path} safe legacy"
        for route in routes(envoy.bootstrap(config, OPTIONS))
    )


def test_at_the_edge_forwarded_for_is_the_peer_and_hop_by_hop_answers_are_cleaned(
    config: Config, tmp_path: Path
) -> None:
    route_config = manager(envoy.bootstrap(config, OPTIONS))["route_config"]
    assert config.routes.forwarded.trusted_hops == 0
    added = {
        h["header"]["key"]: h for h in route_config["virtual_hosts"][0]["request_headers_to_add"]
    }
    assert (
        added["x-forwarded-for"]["header"]["value"]
        == "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%"
    )
    assert added["x-forwarded-for"]["append_action"] == "OVERWRITE_IF_EXISTS_OR_ADD"
    assert "keep-alive" in route_config["response_headers_to_remove"]
    path = tmp_path / "routes.yaml"
    path.write_text(
        'version: 1\nlegacy: {url: "http://127.0.0.1:8000"}\nforwarded: {trusted_hops: 1}\n'
    )
    behind = manager(envoy.bootstrap(load(path), Options()))["route_config"]
    # behind a trusted proxy the edge filter keeps its hop and appends the peer
    keys = [h["header"]["key"] for h in behind["virtual_hosts"][0]["request_headers_to_add"]]
    assert "x-forwarded-for" not in keys


def test_a_content_length_over_a_routes_limit_is_a_direct_413_before_it(config: Config) -> None:
    found = routes(envoy.bootstrap(config, OPTIONS))
    names = [route["name"] for route in found]
    top = found[names.index("body over max_body")]
    assert top["direct_response"] == {"status": 413}
    # the largest limit: routes.yaml's own (1KB for moved is below it)
    assert top["match"]["headers"] == [
        {
            "name": "content-length",
            "range_match": {"start": config.routes.limits.max_body + 1, "end": 2**63 - 1},
        }
    ]
    # moved has max_body 1KB: its own 413 comes right before each of its routes
    over = found[names.index("moved /moved safe body over max_body")]
    assert names[names.index("moved /moved safe body over max_body") + 1] == "moved /moved safe"
    assert over["direct_response"] == {"status": 413}
    assert (
        over["match"]["safe_regex"]
        == route(envoy.bootstrap(config, OPTIONS), "moved /moved safe")["match"]["safe_regex"]
    )
    assert {"name": "content-length", "range_match": {"start": 1001, "end": 2**63 - 1}} in over[
        "match"
    ]["headers"]
    # answered before the buffer filter would wait for the body, and before any Lua
    assert over["typed_per_filter_config"]["envoy.filters.http.buffer"]["disabled"] is True
    # not a refusal: Envoy's local reply keeps the 413
    assert not over["name"].startswith("reject: ")


def test_forwarding_routes_tell_the_edge_filter_the_clients_origin(config: Config) -> None:
    for found in routes(envoy.bootstrap(config, OPTIONS)):
        if "route" in found:
            added = found["response_headers_to_add"]
            assert added[0]["header"] == {
                "key": envoy.ORIGIN_HEADER,
                "value": "http://%REQ(:AUTHORITY)%",
            }
    source = envoy.edge_lua(config)
    assert 'headers:remove("x-strangler-origin")' in source
    # at the edge the filter has no request function: no coroutine a request
    assert "if TRUSTED_HOPS > 0 then\n  -- defined" in source


def test_one_method_is_an_exact_match_not_a_regex(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        'version: 1\nlegacy: {url: "http://127.0.0.1:8000"}\n'
        'services: {s: {url: "http://127.0.0.1:8001"}}\n'
        "capabilities:\n"
        "  one: {match: [{methods: [GET], path: /a}], service: s, mode: extracted}\n"
        "  two: {match: [{methods: [GET, POST], path: /b}], service: s, mode: extracted}\n"
    )
    boot = envoy.bootstrap(load(path), Options())
    headers = [
        header
        for entry in boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
            "typed_config"
        ]["route_config"]["virtual_hosts"][0]["routes"]
        for header in entry["match"].get("headers", [])
        if header["name"] == ":method"
    ]
    matches = [header["string_match"] for header in headers]
    assert {"exact": "GET"} in matches
    # several methods stay one regex (test_put_and_delete_are_retried_...); none is "^(X)$"
    assert not [m for m in matches if "safe_regex" in m and "|" not in m["safe_regex"]["regex"]]
