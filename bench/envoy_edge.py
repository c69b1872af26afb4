"""What the export's edge rules cost Envoy: requests/s of exported configs, interleaved.

``python -m bench.envoy_edge NAME=ENVOY_YAML ... [--rounds 3] [--duration 8]``: a fast
stand-in upstream (nginx ``return 200``, bench.nginx) on the port the configs' upstreams
name (``--upstream-port``), then for each round each config in turn: Envoy
(``--concurrency 1``, its own process group), ``wrk -t1 -c32`` for ``--duration`` seconds
on ``--path``. Prints each run, then each config's median and its ratio to the first
config's median, and the load average. ``minimal`` as a NAME is a hand-written Envoy config
(one route, the router filter alone), written here: the reference of issue 16.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.nginx import standin_server, start_nginx
from bench.procs import Supervisor

LOOPBACK = "127.0.0.1"


def minimal_config(listen: int, upstream: int, admin: int) -> dict[str, object]:
    """The smallest Envoy that proxies every request to the upstream."""
    api = "type.googleapis.com/envoy.extensions.filters."
    return {
        "admin": {"address": {"socket_address": {"address": LOOPBACK, "port_value": admin}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "minimal",
                    "address": {"socket_address": {"address": LOOPBACK, "port_value": listen}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": api + "network.http_connection_manager.v3."
                                        "HttpConnectionManager",
                                        "stat_prefix": "minimal",
                                        "route_config": {
                                            "virtual_hosts": [
                                                {
                                                    "name": "all",
                                                    "domains": ["*"],
                                                    "routes": [
                                                        {
                                                            "match": {"prefix": "/"},
                                                            "route": {"cluster": "up"},
                                                        }
                                                    ],
                                                }
                                            ]
                                        },
                                        "http_filters": [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {
                                                    "@type": api + "http.router.v3.Router"
                                                },
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "up",
                    "connect_timeout": "1s",
                    "type": "STATIC",
                    "load_assignment": {
                        "cluster_name": "up",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": LOOPBACK,
                                                    "port_value": upstream,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ],
        },
    }


def _listen_port(config: Path) -> int:
    text = config.read_text()
    found = re.search(r'"listeners".*?"port_value": (\d+)', text, re.S)
    if found is None:
        raise SystemExit(f"{config}: no listener port found")
    return int(found.group(1))


def _wait(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status < 500:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} does not answer")


def run_once(envoy: str, config: Path, path: str, duration: int, connections: int) -> float:
    port = _listen_port(config)
    proc = subprocess.Popen(
        [envoy, "-c", str(config), "--concurrency", "1", "--log-level", "error"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://{LOOPBACK}:{port}{path}", time.monotonic() + 30)
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", f"http://{LOOPBACK}:{port}{path}"],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if found is None or "Non-2xx" in done.stdout:
        raise SystemExit(f"{config}: wrk says\n{done.stdout}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="NAME=envoy.yaml, or minimal")
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    envoy = shutil.which("envoy") or str(Path(sys.executable).parent / "envoy")
    work = Path(tempfile.mkdtemp(prefix="envoy-edge-"))
    configs: dict[str, Path] = {}
    for item in args.configs:
        name, _, where = item.partition("=")
        if name == "minimal":
            path = work / "minimal.yaml"
            config = minimal_config(args.upstream_port + 1, args.upstream_port, 0)
            path.write_text(json.dumps(config))
            configs[name] = path
        else:
            configs[name] = Path(where)
    results: dict[str, list[float]] = {name: [] for name in configs}
    with Supervisor(work) as supervisor:
        start_nginx(supervisor, "standin", workers=1, servers=standin_server(args.upstream_port))
        _wait(f"http://{LOOPBACK}:{args.upstream_port}/", time.monotonic() + 10)
        for round_ in range(args.rounds):
            for name, path in configs.items():
                rps = run_once(envoy, path, args.path, args.duration, args.connections)
                results[name].append(rps)
                print(f"round {round_ + 1} {name}: {rps:.0f} req/s", flush=True)
    first = statistics.median(next(iter(results.values())))
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name}: median {median:.0f} req/s, {median / first:.2f}x the first")
    print("load average: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
