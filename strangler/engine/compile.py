"""routes.yaml compiled for a running Envoy: a bootstrap written once, and the dynamic
resources (clusters, the listener, the routes) it reads from files it watches.

The resources are the export's (``strangler.export.envoy.bootstrap``), split three ways:

- CDS (``cds.json``): every cluster a mode of routes.yaml's services can use
  (``every_cluster``), so a change of mode or percent leaves the clusters as they are;
- LDS (``lds.json``): the listener, its connection manager naming its routes by RDS;
- RDS (``rds.json``): the routes, which is all that most changes of routes.yaml touch: an
  unchanged listener is not drained, so a mode flip fails no request.

``static`` is the same configuration as one static bootstrap: what ``envoy --mode validate``
checks before the files are swapped in (a file Envoy would refuse never reaches it).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facade.config import Config
from facade.metrics import LATENCY_BUCKETS
from strangler.export import envoy
from strangler.export.plan import Options

_API = "type.googleapis.com/envoy.config."
ROUTE_CONFIG = "strangler"
FILES = ("cds.json", "lds.json", "rds.json")


@dataclass(frozen=True, slots=True)
class Compiled:
    """One compilation: the dynamic files' texts by name, and the static equivalent."""

    files: dict[str, str]
    static: dict[str, Any]
    digest: str  # routes.yaml's sha256, the files' version_info


def _source(path: Path) -> dict[str, Any]:
    """A file subscription that rereads ``path`` when a file is moved into its directory
    (the ``..data`` symlink swap of ``strangler.engine.files``)."""
    return {
        "path_config_source": {
            "path": str(path),
            "watched_directory": {"path": str(path.parent)},
        },
        "resource_api_version": "V3",
    }


def _resources(version: str, type_url: str, items: list[dict[str, Any]]) -> str:
    body = {"version_info": version, "resources": [{"@type": type_url, **i} for i in items]}
    return json.dumps(body, indent=1) + "\n"


def compile_config(config: Config, options: Options, live: Path) -> Compiled:
    """The files for directory ``live`` (where ``files.Swapper`` keeps them); raises
    ``ExportError`` when routes.yaml cannot be expressed in Envoy."""
    static = envoy.bootstrap(config, options, all_clusters=True)
    resources = static["static_resources"]
    listener = copy.deepcopy(resources["listeners"][0])
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager.pop("route_config")
    manager["rds"] = {
        "route_config_name": ROUTE_CONFIG,
        "config_source": _source(live / "rds.json"),
    }
    version = config.digest
    files = {
        "cds.json": _resources(version, _API + "cluster.v3.Cluster", resources["clusters"]),
        "lds.json": _resources(version, _API + "listener.v3.Listener", [listener]),
        "rds.json": _resources(version, _API + "route.v3.RouteConfiguration", [routes]),
    }
    return Compiled(files, static, version)


def bootstrap(options: Options, live: Path) -> dict[str, Any]:
    """The bootstrap Envoy starts from: its admin listener, the file subscriptions, and the
    facade's latency buckets for the route stats. It never changes while Envoy runs."""
    buckets = [bound * 1000 for bound in LATENCY_BUCKETS]
    return {
        "node": {"id": "strangler", "cluster": "strangler"},
        "admin": {
            "address": {
                "socket_address": {"address": "127.0.0.1", "port_value": options.admin_port}
            }
        },
        "layered_runtime": envoy.RUNTIME,
        "dynamic_resources": {
            "cds_config": _source(live / "cds.json"),
            "lds_config": _source(live / "lds.json"),
        },
        "stats_config": {
            "histogram_bucket_settings": [
                {"match": {"prefix": "vhost.strangler.route."}, "buckets": buckets}
            ]
        },
    }


__all__ = ["FILES", "Compiled", "bootstrap", "compile_config"]
