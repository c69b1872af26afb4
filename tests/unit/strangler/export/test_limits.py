"""`--explain`: what each target does differently, for this routes.yaml only."""

from __future__ import annotations

from pathlib import Path

from facade.config import load
from strangler.export import limits as explain
from strangler.export.plan import Options
from tests.support.export_routes import every_mode

FACADE = Options(facade_url="http://127.0.0.1:9000")
BOTH = Options(facade_url="http://127.0.0.1:9000", compare_url="http://127.0.0.1:9001")


def said(limits: list[explain.Limit], capability: str | None, feature: str) -> str:
    return " ".join(
        limit.text for limit in limits if (limit.capability, limit.feature) == (capability, feature)
    )


def test_nginx_says_its_canary_moves_keys_between_engines(tmp_path: Path) -> None:
    limits = explain.explain("nginx", every_mode(tmp_path, percent=12.345), BOTH)
    text = said(limits, "split", "canary")
    assert "MurmurHash2" in text
    assert "switching engines moves keys" in text
    assert "rounded to 0.01%" in text
    assert said(explain.explain("envoy", every_mode(tmp_path), BOTH), "split", "canary") == ""


def test_a_translator_is_served_by_the_python_facade(tmp_path: Path) -> None:
    for engine in explain.ENGINES:
        text = said(explain.explain(engine, every_mode(tmp_path), BOTH), "translated", "translator")
        assert "http://127.0.0.1:9000" in text


def test_shadow_names_the_missing_compare_service_and_the_twin_call(tmp_path: Path) -> None:
    config = every_mode(tmp_path)
    missing = explain.explain("envoy", config, FACADE)
    assert "no --compare-url" in said(missing, "shadowed", "shadow")
    present = explain.explain("envoy", config, BOTH)
    assert "twin call" in said(present, "shadowed", "compare")
    assert "10%" in said(present, "shadowed", "shadow.percent")


def test_unsafe_fallback_rules_are_listed_per_capability(tmp_path: Path) -> None:
    limits = explain.explain("envoy", every_mode(tmp_path), BOTH)
    assert "connect failure" in said(limits, "split", "retries")
    assert "fall back" not in said(limits, "moved", "retries")  # extracted: writes stay
    nginx = explain.explain("nginx", every_mode(tmp_path), BOTH)
    assert "limits.max_body applies" in said(nginx, "moved", "max_body")


def test_a_legacy_only_file_lists_only_the_general_limits(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text('version: 1\nlegacy: {url: "http://127.0.0.1:8000"}\n')
    limits = explain.explain("envoy", load(path), Options())
    assert {limit.capability for limit in limits} == {None}
    assert str(limits[0]).startswith("*: reload:")
    # Envoy answers problem+json and rewrites Location as the facade; nginx does neither
    assert not {"errors", "Location"} & {limit.feature for limit in limits}
    nginx = explain.explain("nginx", load(path), Options())
    assert str(nginx[0]).startswith("*: errors:")


def test_a_legacy_capability_says_what_will_differ_once_it_moves(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        'version: 1\nlegacy: {url: "http://127.0.0.1:8000"}\n'
        'services: {s: {url: "http://127.0.0.1:8001"}}\n'
        "capabilities:\n"
        "  products: {match: [{path: /p}], service: s, translator: catalog.products}\n"
    )
    nginx = explain.explain("nginx", load(path), Options())
    assert "--facade-url" in said(nginx, "products", "translator")
    assert "MurmurHash2" in said(nginx, "products", "canary")
    assert said(explain.explain("envoy", load(path), Options()), "products", "canary") == ""


def test_a_cookie_key_names_the_values_parsed_otherwise(tmp_path: Path) -> None:
    config = every_mode(tmp_path, sticky="cookie:sid")
    for engine in explain.ENGINES:
        text = said(explain.explain(engine, config, BOTH), "split", "canary.sticky")
        assert "quoted value" in text
        assert "spaces" in text
    header = explain.explain("envoy", every_mode(tmp_path), BOTH)
    assert said(header, "split", "canary.sticky") == ""


def test_envoy_says_the_monolith_s_attempt_gets_the_service_s_timeout(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    every_mode(tmp_path)
    path.write_text(
        path.read_text()
        .replace(
            'legacy: {url: "http://127.0.0.1:18000"}',
            'legacy: {url: "http://127.0.0.1:18000", timeout: 30s}',
        )
        .replace("retries: 1}", "retries: 1, timeout: 2s}")
    )
    text = said(explain.explain("envoy", load(path), BOTH), "split", "fallback timeout")
    assert "(2s)" in text
    assert "(30s)" in text
    assert "504" in text
    path.write_text(path.read_text().replace("timeout: 30s", "timeout: 1s"))
    assert said(explain.explain("envoy", load(path), BOTH), "split", "fallback timeout") == ""


def test_nginx_names_the_headers_listed_in_connection_it_forwards(tmp_path: Path) -> None:
    # H1: the integration test marks it as an expected difference (xfail, strict)
    text = said(explain.explain("nginx", every_mode(tmp_path), BOTH), None, "Connection")
    assert "not dropped" in text
    assert said(explain.explain("envoy", every_mode(tmp_path), BOTH), None, "Connection") == ""
