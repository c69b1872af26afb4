"""The compare service at one process and more: mirrored requests answered per second,
comparisons made per second, and what its bounded queue dropped meanwhile.

Run as ``python -m bench.compare_service [--seconds 10] [--connections 32] [--queue 1024]
[--processes 1 2]`` (also part of ``scripts/bench --suite engines``). The legacy and the
candidate are ``bench.slow_upstream`` with no delay (aiohttp, the same ~2 KB JSON body: every
comparison matches; noise learning on, 10% twin calls, routes.yaml's default); a SQLite store.
wrk floods ``strangler compare-service`` with GETs as Envoy's mirror sends them
(``Host: shop.example-shadow``); the comparisons are read from its ``/metrics`` before and
after. With N processes, N compare services run on their own ports with the same routes.yaml
(so the same store file, as N replicas behind one mirror cluster would), and N wrk processes
load them at once, the connections split between them. Prints one markdown table on stdout.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.procs import BenchError, Supervisor, free_port, http_get, wait_http
from bench.wrk import Load, parse_result, write_script, wrk_binary

STRANGLER = str(Path(sys.executable).parent / "strangler")
HOST = "shop.example-shadow"  # as Envoy's mirror sends it
MIRRORED = "/api/items/7"


@dataclass(frozen=True, slots=True)
class CompareRun:
    """One load of ``processes`` compare services, summed over them."""

    processes: int
    connections: int  # in all, split evenly between the processes
    seconds: float
    answered_per_s: float  # the mirror's 202 answers
    p50_ms: float  # the slowest process's
    p99_ms: float
    compared_per_s: float
    dropped_per_s: float
    errors: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def metric_sum(url: str, name: str, label: str = "") -> float:
    status, body = http_get(url + "/metrics", timeout=5.0)
    if status != 200:
        raise BenchError(f"/metrics answered {status}")
    found = 0.0
    for line in body.decode().splitlines():
        m = re.match(rf"{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m and label in (m.group(1) or ""):
            found += float(m.group(2))
    return found


def _totals(urls: Sequence[str]) -> tuple[float, float]:
    compared = sum(metric_sum(u, "strangler_shadow_comparisons_total") for u in urls)
    dropped = sum(metric_sum(u, "strangler_shadow_dropped_total") for u in urls)
    return compared, dropped


def prime(url: str, path: str = MIRRORED, timeout: float = 90.0) -> None:
    """Mirror a few requests and wait for their comparisons: the store is opened (and its
    schema migrated) by the first one, which must not fall into the measured seconds."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(5):
        request = urllib.request.Request(url + path, headers={"Host": HOST})
        with opener.open(request, timeout=10) as answer:
            answer.read()
    deadline = time.monotonic() + timeout
    while metric_sum(url, "strangler_shadow_comparisons_total") < 1:
        if time.monotonic() > deadline:
            raise BenchError(f"{url}: no comparison within {timeout:.0f}s of the first requests")
        time.sleep(0.2)


def _load(services: Sequence[str], shares: Sequence[int], seconds: int, script: Path) -> list[str]:
    """One wrk per process, all at once; their stdout."""
    loads = [
        subprocess.Popen(
            [
                wrk_binary(),
                "-t1",
                f"-c{share}",
                f"-d{seconds}s",
                "--timeout",
                "5s",
                "-H",
                f"Host: {HOST}",
                "-s",
                str(script),
                url + MIRRORED,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url, share in zip(services, shares, strict=True)
    ]
    outputs = [load.communicate() for load in loads]
    for load, (_, err) in zip(loads, outputs, strict=True):
        if load.returncode != 0:
            raise BenchError(f"wrk failed: {err.strip()}")
    return [out for out, _ in outputs]


def measure(
    workdir: Path,
    processes: int,
    seconds: int,
    connections: int,
    queue: int = 1024,
    warmup: int = 2,
) -> CompareRun:
    """Start the upstreams and ``processes`` compare services, load them, stop them all."""
    if connections < processes:
        raise BenchError(f"{connections} connections cannot be split over {processes} processes")
    run_dir = workdir / f"compare-{processes}"
    run_dir.mkdir(parents=True, exist_ok=True)
    with Supervisor(run_dir) as sup:
        urls = {}
        for name in ("legacy", "candidate"):
            port = free_port()
            proc = sup.start(name, [sys.executable, "-m", "bench.slow_upstream", str(port), "0"])
            urls[name] = f"http://127.0.0.1:{port}"
            wait_http(proc, urls[name] + "/healthz")
        routes = run_dir / "routes.yaml"
        routes.write_text(
            f"version: 1\nlegacy: {{url: '{urls['legacy']}'}}\n"
            f"services:\n  items: {{url: '{urls['candidate']}', timeout: 5s}}\n"
            "capabilities:\n  items:\n    service: items\n    mode: shadow\n"
            "    match:\n      - {methods: [GET], path: '/api/items/{n}'}\n"
            f"store: {{url: 'sqlite:///{run_dir / 'evidence.db'}'}}\n"
        )
        services = []
        for number in range(processes):
            port = free_port()
            argv = [
                STRANGLER,
                "compare-service",
                "--routes",
                str(routes),
                "--port",
                str(port),
                "--queue",
                str(queue),
            ]
            proc = sup.start(f"compare-{number}", argv)
            services.append(f"http://127.0.0.1:{port}")
            wait_http(proc, services[-1] + "/healthz")
        for url in services:  # one at a time: the first opens (migrates) the shared store
            prime(url)
        script = write_script(run_dir)
        shares = [
            connections // processes + (i < connections % processes) for i in range(processes)
        ]
        if warmup:
            _load(services, shares, warmup, script)
        compared_before, dropped_before = _totals(services)
        started = time.monotonic()
        outputs = _load(services, shares, seconds, script)
        elapsed = time.monotonic() - started
        compared_after, dropped_after = _totals(services)
    answered = [
        parse_result(Load("throughput", share), out)
        for share, out in zip(shares, outputs, strict=True)
    ]
    return CompareRun(
        processes=processes,
        connections=connections,
        seconds=round(elapsed, 2),
        answered_per_s=round(sum(a.rps for a in answered), 1),
        p50_ms=max(a.p50_ms for a in answered),
        p99_ms=max(a.p99_ms for a in answered),
        compared_per_s=round((compared_after - compared_before) / elapsed, 1),
        dropped_per_s=round((dropped_after - dropped_before) / elapsed, 1),
        errors=sum(a.errors for a in answered),
    )


def table(runs: Sequence[CompareRun]) -> str:
    from bench.report import markdown_table

    first = next((r for r in runs if r.processes == 1), None)
    header = [
        "processes",
        "connections",
        "mirrored answered/s",
        "answer p50 ms",
        "answer p99 ms",
        "comparisons/s",
        "dropped/s",
        "x one process",
    ]
    rows = [
        [
            str(r.processes),
            str(r.connections),
            f"{r.answered_per_s:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.compared_per_s:,.0f}",
            f"{r.dropped_per_s:,.0f}",
            "-"
            if not first or not first.compared_per_s
            else f"{r.compared_per_s / first.compared_per_s:.2f}x",
        ]
        for r in runs
    ]
    return markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--queue", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--processes", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="strangler-compare-bench-") as tmp:
        runs = [
            measure(Path(tmp), n, args.seconds, args.connections, args.queue, args.warmup)
            for n in args.processes
        ]
    print(table(runs))


if __name__ == "__main__":
    main()
