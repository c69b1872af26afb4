"""The compare service at one process: mirrored requests answered per second, comparisons made
per second, and what its bounded queue dropped meanwhile.

Run as ``python -m bench.compare_service [--seconds 10] [--connections 32] [--queue 1024]``.
The legacy and the candidate are ``bench.slow_upstream`` with no delay (aiohttp, the same
~2 KB JSON body: every comparison matches; noise learning on, 10% twin calls, routes.yaml's
default); a SQLite store. wrk floods ``strangler compare-service`` with GETs as Envoy's mirror
sends them (``Host: shop.example-shadow``); the comparisons are read from its ``/metrics``
before and after. Prints one markdown table on stdout.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import BenchError, Supervisor, free_port, http_get, wait_http
from bench.wrk import Load, parse_result, write_script, wrk_binary

STRANGLER = str(Path(sys.executable).parent / "strangler")


def metric_sum(url: str, name: str, label: str = "") -> float:
    status, body = http_get(url + "/metrics")
    if status != 200:
        raise BenchError(f"/metrics answered {status}")
    found = 0.0
    for line in body.decode().splitlines():
        m = re.match(rf"{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m and label in (m.group(1) or ""):
            found += float(m.group(2))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--queue", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="strangler-compare-bench-") as tmp:
        workdir = Path(tmp)
        with Supervisor(workdir) as sup:
            urls = {}
            for name in ("legacy", "candidate"):
                port = free_port()
                proc = sup.start(
                    name, [sys.executable, "-m", "bench.slow_upstream", str(port), "0"]
                )
                urls[name] = f"http://127.0.0.1:{port}"
                wait_http(proc, urls[name] + "/healthz")
            routes = workdir / "routes.yaml"
            routes.write_text(
                f"version: 1\nlegacy: {{url: '{urls['legacy']}'}}\n"
                f"services:\n  items: {{url: '{urls['candidate']}', timeout: 5s}}\n"
                "capabilities:\n  items:\n    service: items\n    mode: shadow\n"
                "    match:\n      - {methods: [GET], path: '/api/items/{n}'}\n"
                f"store: {{url: 'sqlite:///{workdir / 'evidence.db'}'}}\n"
            )
            port = free_port()
            compare = sup.start(
                "compare",
                [
                    STRANGLER,
                    "compare-service",
                    "--routes",
                    str(routes),
                    "--port",
                    str(port),
                    "--queue",
                    str(args.queue),
                ],
            )
            url = f"http://127.0.0.1:{port}"
            wait_http(compare, url + "/healthz")
            before = metric_sum(url, "strangler_shadow_comparisons_total")
            dropped_before = metric_sum(url, "strangler_shadow_dropped_total")
            argv = [
                wrk_binary(), "-t1", f"-c{args.connections}", f"-d{args.seconds}s",
                "--timeout", "5s", "-H", "Host: shop.example-shadow",
                "-s", str(write_script(workdir)), url + "/api/items/7",
            ]  # fmt: skip
            started = time.monotonic()
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            elapsed = time.monotonic() - started
            if done.returncode != 0:
                raise BenchError(f"wrk failed: {done.stderr.strip()}")
            compared = metric_sum(url, "strangler_shadow_comparisons_total") - before
            dropped = metric_sum(url, "strangler_shadow_dropped_total") - dropped_before
            answered = parse_result(Load("throughput", args.connections), done.stdout)
    print("| mirrored answered/s | answer p50 ms | answer p99 ms | comparisons/s | dropped/s |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {answered.rps:,.0f} | {answered.p50_ms:.2f} | {answered.p99_ms:.2f} "
        f"| {compared / elapsed:,.0f} | {dropped / elapsed:,.0f} |"
    )


if __name__ == "__main__":
    main()
