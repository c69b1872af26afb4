"""strangler.engine.compile: routes.yaml as Envoy's dynamic resources (CDS, LDS, RDS), the
same configuration as the export, with clusters that do not change when a mode does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from facade.config import Config, load
from strangler.engine.compile import ROUTE_CONFIG, bootstrap, compile_config
from strangler.export import envoy
from strangler.export.plan import ExportError, Options

OPTIONS = Options(
    listen=("127.0.0.1", 8080),
    admin_port=9901,
    facade_url="http://127.0.0.1:9001",
    compare_url="http://127.0.0.1:9002",
    admin_url="http://127.0.0.1:9003",
)


def routes(tmp_path: Path, mode: str = "extracted", url: str = "http://127.0.0.1:18102") -> Config:
    path = tmp_path / "routes.yaml"
    path.write_text(
        f"""\
version: 1
legacy: {{url: "http://127.0.0.1:18101"}}
services:
  svc: {{url: "{url}"}}
capabilities:
  moved:
    match: [{{path: /moved}}]
    service: svc
    mode: {mode}
"""
    )
    return load(path)


def resources(text: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(text)["resources"]
    return found


def test_three_files_typed_and_versioned_by_the_routes_digest(tmp_path: Path) -> None:
    config = routes(tmp_path)
    compiled = compile_config(config, OPTIONS, tmp_path / "live")
    assert sorted(compiled.files) == ["cds.json", "lds.json", "rds.json"]
    for name, kind in (("cds.json", "cluster"), ("lds.json", "listener"), ("rds.json", "route")):
        body = json.loads(compiled.files[name])
        assert body["version_info"] == config.digest
        assert all(
            r["@type"].startswith(f"type.googleapis.com/envoy.config.{kind}.v3.")
            for r in body["resources"]
        )


def test_the_listener_names_its_routes_by_rds_from_the_watched_directory(tmp_path: Path) -> None:
    live = tmp_path / "live"
    compiled = compile_config(routes(tmp_path), OPTIONS, live)
    (listener,) = resources(compiled.files["lds.json"])
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert "route_config" not in manager
    rds = manager["rds"]
    assert rds["route_config_name"] == ROUTE_CONFIG
    source = rds["config_source"]["path_config_source"]
    assert source == {"path": str(live / "rds.json"), "watched_directory": {"path": str(live)}}
    (route_config,) = resources(compiled.files["rds.json"])
    assert route_config["name"] == ROUTE_CONFIG


def test_the_same_routes_as_the_export(tmp_path: Path) -> None:
    config = routes(tmp_path)
    compiled = compile_config(config, OPTIONS, tmp_path / "live")
    static = envoy.bootstrap(config, OPTIONS, all_clusters=True)
    manager = static["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    (route_config,) = resources(compiled.files["rds.json"])
    assert route_config.pop("@type").endswith(".RouteConfiguration")
    assert route_config == manager["typed_config"]["route_config"]
    assert compiled.static == static


def test_clusters_stay_the_same_when_a_mode_changes(tmp_path: Path) -> None:
    names = set()
    for mode in ("legacy", "shadow", "canary", "extracted"):
        compiled = compile_config(routes(tmp_path, mode), OPTIONS, tmp_path / "live")
        clusters = resources(compiled.files["cds.json"])
        names.add(tuple(sorted(c["name"] for c in clusters)))
        for cluster in clusters:  # the version differs, the clusters do not
            cluster.pop("@type")
    assert names == {
        (
            "admin",
            "compare",
            "facade",
            "fallback-unsafe.svc",
            "fallback.svc",
            "legacy",
            "service.svc",
        )
    }


def test_reserved_paths_go_to_the_admin_server_with_the_client_address(tmp_path: Path) -> None:
    compiled = compile_config(routes(tmp_path), OPTIONS, tmp_path / "live")
    (route_config,) = resources(compiled.files["rds.json"])
    routes_ = route_config["virtual_hosts"][0]["routes"]
    (admin,) = [r for r in routes_ if r["name"] == "admin"]
    assert admin["route"]["cluster"] == "admin"
    assert admin["match"]["safe_regex"]["regex"] == "/(healthz|readyz|metrics)/?"
    (added,) = admin["request_headers_to_add"]
    assert added["header"] == {
        "key": envoy.CLIENT_ADDRESS_HEADER,
        "value": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%",
    }
    assert not [r for r in routes_ if r.get("direct_response", {}).get("status") == 404]


def test_an_upstream_with_a_path_cannot_be_expressed(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="has a path"):
        compile_config(routes(tmp_path, url="http://127.0.0.1:1/api"), OPTIONS, tmp_path)


def test_the_bootstrap_subscribes_to_the_files_and_keeps_the_facade_buckets(tmp_path: Path) -> None:
    live = tmp_path / "live"
    boot = bootstrap(OPTIONS, live)
    assert boot["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9901,
    }
    dynamic = boot["dynamic_resources"]
    assert dynamic["cds_config"]["path_config_source"]["path"] == str(live / "cds.json")
    assert dynamic["lds_config"]["path_config_source"]["watched_directory"] == {"path": str(live)}
    assert "static_resources" not in boot
    assert boot["stats_config"] == envoy.bootstrap(routes(tmp_path), OPTIONS)["stats_config"]
