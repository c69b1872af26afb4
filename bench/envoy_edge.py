"""What the export's edge rules cost Envoy: requests/s of exported configs, interleaved.

``python -m bench.envoy_edge NAME=ENVOY_YAML ... [--rounds 3] [--duration 8]``: a fast
stand-in upstream (nginx ``return 200``, bench.nginx) on the port the configs' upstreams
name (``--upstream-port``), then for each round each config in turn: Envoy
(``--concurrency 1``, its own process group), ``wrk -t1 -c32`` for ``--duration`` seconds
on ``--path``. Prints each run (req/s, Envoy's CPU us a request), then each config's
medians and ratios to the first config, and the load average. ``minimal`` as a NAME is
``bench.engines.hand_written_envoy`` (one route, the router filter alone): the reference of
issue 16.
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

from bench.engines import hand_written_envoy
from bench.nginx import standin_server, start_nginx
from bench.procs import LOOPBACK, Supervisor


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


def _cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time so far (/proc/PID/stat, utime and stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(
    envoy: str, config: Path, path: str, duration: int, connections: int
) -> tuple[float, float]:
    """Requests/s, and Envoy's CPU microseconds a request (what a loaded machine's other
    work changes less than the rate: it is Envoy's own cost, whoever else runs)."""
    port = _listen_port(config)
    proc = subprocess.Popen(
        [envoy, "-c", str(config), "--concurrency", "1", "--log-level", "error"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://{LOOPBACK}:{port}{path}", time.monotonic() + 30)
        cpu_before = _cpu_seconds(proc.pid)
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", f"http://{LOOPBACK}:{port}{path}"],
            capture_output=True,
            text=True,
            check=True,
        )
        cpu = _cpu_seconds(proc.pid) - cpu_before
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    total = re.search(r"(\d+) requests in", done.stdout)
    if found is None or total is None or "Non-2xx" in done.stdout:
        raise SystemExit(f"{config}: wrk says\n{done.stdout}")
    return float(found.group(1)), cpu * 1e6 / int(total.group(1))


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
            # the engines suite's reference, with an admin listener on a port of its own
            config = {
                **hand_written_envoy(args.upstream_port + 1, args.upstream_port),
                "admin": {"address": {"socket_address": {"address": LOOPBACK, "port_value": 0}}},
            }
            path.write_text(json.dumps(config))
            configs[name] = path
        else:
            configs[name] = Path(where)
    results: dict[str, list[float]] = {name: [] for name in configs}
    costs: dict[str, list[float]] = {name: [] for name in configs}
    with Supervisor(work) as supervisor:
        start_nginx(supervisor, "standin", workers=1, servers=standin_server(args.upstream_port))
        _wait(f"http://{LOOPBACK}:{args.upstream_port}/", time.monotonic() + 10)
        for round_ in range(args.rounds):
            for name, path in configs.items():
                rps, cost = run_once(envoy, path, args.path, args.duration, args.connections)
                results[name].append(rps)
                costs[name].append(cost)
                print(
                    f"round {round_ + 1} {name}: {rps:.0f} req/s, {cost:.1f} us CPU/req", flush=True
                )
    # a ratio within each round too: the load of a shared machine drifts between rounds
    reference = next(iter(results.values()))
    first = statistics.median(reference)
    for name, values in results.items():
        median = statistics.median(values)
        paired = statistics.median(v / r for v, r in zip(values, reference, strict=True))
        print(
            f"{name}: median {median:.0f} req/s, {median / first:.2f}x the first's median; "
            f"median of the rounds' ratios {paired:.2f}x; "
            f"Envoy CPU {statistics.median(costs[name]):.1f} us/req"
        )
    print("load average: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
