"""Where the Envoy engine's own cost goes: the export's Envoy with parts taken out, on its
legacy route, against the minimal hand-written route, in one run.

Run as ``python -m bench.envoy_filters [--seconds 5] [--rounds 2] [--connections 32]``. The
routes.yaml is ``scripts/bench --suite engines``' (a legacy, an extracted and a canary
capability) on an nginx stand-in; ``strangler export envoy`` compiles it (the routes and
filters ``serve --engine envoy`` runs); each variant is Envoy from the wheel with
``--concurrency 1``, measured on ``/api/legacy/SKU-00001`` with wrk (1 thread). Variants:

- ``hand``: ``bench.engines.hand_written_envoy``, one ``prefix: /`` route, the router alone;
- ``export``: the export as written;
- ``no-lua``: without the Lua filter (the canary split; it runs on every request);
- ``no-lua-buffer``: without the Lua and the buffer filters;
- ``no-lua-buffer-checks``: also without the export's first route (the regex refusing
  ``%00``/``%0a``/``%0d`` anywhere in the path, tried on every request).

Only the legacy route is measured (a variant without Lua no longer splits the canary). Prints
one markdown table: rps at N connections and Envoy's CPU time per request (medians of the
rounds), each against ``hand``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.engines import engines_routes, hand_written_envoy
from bench.nginx import STANDIN_BODY, standin_server, start_nginx
from bench.procs import BenchError, Supervisor, free_port, http_get, tree_cpu_seconds, wait_http
from bench.report import markdown_table
from bench.targets import base_url, venv_tool
from bench.wrk import Load, Measurement, run_wrk, write_script

ROUTE = "/api/legacy/SKU-00001"
Config = dict[str, Any]


def _without_filters(config: Config, *names: str) -> Config:
    found = copy.deepcopy(config)
    hcm = found["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    filters = hcm["typed_config"]["http_filters"]
    hcm["typed_config"]["http_filters"] = [f for f in filters if f["name"] not in names]
    return found


def _without_checks(config: Config) -> Config:
    found = _without_filters(config, "envoy.filters.http.lua", "envoy.filters.http.buffer")
    hcm = found["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"] = [
        r for r in routes if not str(r.get("name", "")).startswith("reject:")
    ]
    return found


VARIANTS: dict[str, Callable[[Config], Config]] = {
    "export": copy.deepcopy,
    "no-lua": lambda c: _without_filters(c, "envoy.filters.http.lua"),
    "no-lua-buffer": lambda c: _without_filters(
        c, "envoy.filters.http.lua", "envoy.filters.http.buffer"
    ),
    "no-lua-buffer-checks": _without_checks,
}


def exported(workdir: Path, routes: str, port: int) -> Config:
    path = workdir / "routes.yaml"
    path.write_text(routes)
    out = workdir / "export"
    argv = [
        venv_tool("strangler"), "export", "envoy", str(out), "--routes", str(path),
        "--listen", f"127.0.0.1:{port}", "--admin-port", str(free_port()),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"strangler export envoy failed: {done.stderr.strip()}")
    text = (out / "envoy.yaml").read_text()
    config: Config = json.loads(text[text.index("{") :])  # after the comment lines
    return config


def measure(
    sup: Supervisor, name: str, config: Config, url: str, seconds: int, connections: int
) -> tuple[Measurement, float]:
    """rps at ``connections`` and Envoy's CPU microseconds per request meanwhile."""
    path = sup.workdir / f"{name}.json"
    path.write_text(json.dumps(config))
    argv = [
        venv_tool("envoy"), "-c", str(path), "--concurrency", "1",
        "--disable-hot-restart", "-l", "warning",
    ]  # fmt: skip
    proc = sup.start(name, argv)
    try:
        wait_http(proc, url)
        status, body = http_get(url)
        if status != 200 or body != STANDIN_BODY.encode():
            raise BenchError(f"{name}: {url} answered {status}")
        script = write_script(sup.workdir)
        run_wrk(url, Load("warmup", connections), 2, script)
        cpu = tree_cpu_seconds(proc.pid)
        found = run_wrk(url, Load("throughput", connections), seconds, script)
        cpu = tree_cpu_seconds(proc.pid) - cpu
        return found, cpu / max(1, found.requests) * 1e6
    finally:
        sup.stop(proc, timeout=20)


Variant = Callable[[Config], Config]


def measure_variants(
    variants: Mapping[str, Variant], route: str, *, rounds: int, seconds: int, connections: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """rps and CPU µs per request of each round, for the hand-written route (``hand``) and
    each variant of the export of ``bench.engines.engines_routes``, all in front of one nginx
    stand-in, interleaved round by round (the load drifts within a run)."""
    rps: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="strangler-envoy-variants-") as tmp,
        Supervisor(Path(tmp)) as sup,
    ):
        legacy, service = free_port(), free_port()
        standin = start_nginx(
            sup, "standin", workers=2, servers=standin_server(legacy) + standin_server(service)
        )
        wait_http(standin, base_url(legacy) + route)
        port = free_port()
        export = exported(Path(tmp), engines_routes(legacy, service), port)
        configs = {"hand": hand_written_envoy(port, legacy)}
        configs |= {name: make(export) for name, make in variants.items()}
        for number in range(rounds):
            for name, config in configs.items():
                m, us = measure(sup, name, config, base_url(port) + route, seconds, connections)
                print(
                    f"round {number + 1}: {name}: {m.rps:,.0f} rps, {us:.1f} CPU µs/request",
                    file=sys.stderr,
                )
                rps.setdefault(name, []).append(m.rps)
                cpu.setdefault(name, []).append(us)
    return rps, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    rps, cpu = measure_variants(
        VARIANTS, ROUTE, rounds=args.rounds, seconds=args.seconds, connections=args.connections
    )
    hand = statistics.median(rps["hand"])
    hand_cpu = statistics.median(cpu["hand"])
    rows = [
        [
            name,
            f"{statistics.median(v):,.0f}",
            f"{statistics.median(v) / hand:.2f}x",
            f"{statistics.median(cpu[name]):.1f}",
            f"{statistics.median(cpu[name]) / hand_cpu:.2f}x",
        ]
        for name, v in rps.items()
    ]
    print(
        f"load average {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
        f"{args.rounds} rounds of {args.seconds}s, {args.connections} connections"
    )
    header = ["variant", "rps (median)", "x hand-written", "CPU µs/request", "x hand-written"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
