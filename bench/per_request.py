"""CPU time per request of a facade worker under wrk (issue 17, item 3): ``python -m
bench.per_request``.

One facade (``--workers 1``: the process that serves is the one measured) in front of the
nginx stand-in, routes with one capability in ``mode: legacy``. Each round reads the process's
utime+stime from ``/proc/PID/stat`` before and after a wrk run and divides by the requests
served: on a loaded, shared machine that is a steadier figure than requests per second, which
follows whatever else runs on the cores.

``--tree LABEL=DIR`` (repeatable) runs a facade from another checkout of the package (e.g.
``git archive main | tar -x -C /tmp/base``) with this venv, ``PYTHONPATH=DIR``: the trees are
measured in the same session, interleaved round by round, so before/after figures share the
machine's load. Without it, the current tree alone.

On a shared machine the process figure moves by tens of µs between rounds, more than a change
of a few µs to one function: ``--functions`` times the request path's own functions instead
(best of 5 timeit runs each, in a fresh interpreter per tree and round, interleaved the same
way), with the headers and the path wrk's requests and the nginx stand-in's answers carry.

``--areas RAW --us N`` splits a ``py-spy record --format raw`` profile of a facade worker into
the request path's areas (each sample goes to the innermost frame that names one) and turns
the shares into µs of N µs/request.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import LOOPBACK, Managed, Supervisor, free_port, wait_http
from bench.targets import PATH, base_url, start_standin
from bench.wrk import Load, run_wrk, write_script

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the command name: state is field 3, utime 14 and stime 15 (proc(5))
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def routes_yaml(upstream_port: int) -> str:
    return (
        "version: 1\n"
        f'legacy: {{url: "{base_url(upstream_port)}"}}\n'
        "capabilities:\n"
        "  product-detail:\n"
        '    match: [{methods: [GET], path: "/api/products/{sku}"}]\n'
        "    mode: legacy\n"
    )


# run in a fresh interpreter per tree: prints {function: µs per call}
FUNCTIONS = """
import json, timeit
from multidict import CIMultiDict, CIMultiDictProxy
from facade import headers as h
from facade.config import normalize
wrk = CIMultiDictProxy(CIMultiDict([("Host", "127.0.0.1:8080")]))
nginx = CIMultiDictProxy(CIMultiDict([
    ("Server", "nginx/1.22.1"), ("Date", "Fri, 04 Dec 2026 15:00:00 GMT"),
    ("Content-Type", "application/json"), ("Content-Length", "2048"),
    ("Connection", "keep-alive"),
]))
peer = h.Peer("127.0.0.1", "http", "127.0.0.1:8080")
rid, tp = h.request_id_from(wrk), h.traceparent_from(wrk)
cases = {
    "headers: upstream_request_headers": lambda: h.upstream_request_headers(
        wrk, peer=peer, request_id=rid, traceparent=tp),
    "headers: downstream_response_headers": lambda: h.downstream_response_headers(nginx),
    "routing: valid_authority (Host check)": lambda: h.valid_authority("127.0.0.1:8080"),
    "routing: normalize_target": lambda: normalize.normalize_target("/api/products/SKU-00001"),
    "ids: request_id_from": lambda: h.request_id_from(wrk),
    "ids: traceparent_from": lambda: h.traceparent_from(wrk),
}
print(json.dumps({
    name: min(timeit.repeat(fn, number=20000, repeat=5)) / 20000 * 1e6
    for name, fn in cases.items()
}))
"""


def time_functions(trees: Sequence[Tree], rounds: int) -> None:
    got: dict[str, dict[str, list[float]]] = {tree.label: {} for tree in trees}
    for round_no in range(1, rounds + 1):
        for tree in trees if round_no % 2 else trees[::-1]:
            env = dict(os.environ)
            if tree.path is not None:
                env["PYTHONPATH"] = str(tree.path)
            done = subprocess.run(
                [sys.executable, "-c", FUNCTIONS],
                env=env,
                cwd=tree.path or ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            for name, us in json.loads(done.stdout).items():
                got[tree.label].setdefault(name, []).append(us)
    names = list(got[trees[0].label])
    print("function | " + " | ".join(f"{tree.label} (µs/call)" for tree in trees))
    for name in names:
        cells = [statistics.median(got[tree.label][name]) for tree in trees]
        print(name + " | " + " | ".join(f"{cell:.2f}" for cell in cells))
    print(f"load average: {os.getloadavg()[0]:.2f}")


# the innermost frame matching one of these names a sample's area (first match wins)
AREAS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("ids", r"request_id_from|traceparent_from"),
        ("headers", r"facade/headers\.py"),
        ("routing", r"facade/stages/route\.py|facade/config/(matching|normalize)\.py"),
        ("metrics", r"facade/metrics\.py|prometheus_client"),
        ("logging", r"facade/access_log\.py|logging/__init__"),
        ("traffic", r"facade/traffic\.py"),
        (
            "upstream client",
            r"facade/(lean_)?upstream\.py|facade/clean_connections\.py|aiohttp/client|"
            r"aiohttp/connector",
        ),
        ("other stages", r"facade/stages/"),
        ("handler (app, exchange)", r"facade/app\.py|facade/exchange\.py"),
        (
            "aiohttp server",
            r"aiohttp/web_|aiohttp/http_|aiohttp/streams|aiohttp/base_protocol|"
            r"facade/connections\.py",
        ),
    )
)


def areas(raw: Path, us_per_request: float) -> None:
    counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        area = "event loop, other"
        for frame in reversed(stack.split(";")):
            hit = next((name for name, rx in AREAS if rx.search(frame)), None)
            if hit is not None:
                area = hit
                break
        counts[area] = counts.get(area, 0) + n
    print(f"{total} samples")
    for area, n in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"{area:26s} {n / total * 100:5.1f}%  {n / total * us_per_request:6.1f} µs/request")


@dataclass(slots=True)
class Tree:
    label: str
    path: Path | None  # None: the package this venv imports
    proc: Managed | None = None
    url: str = ""
    us_per_request: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)


def start(supervisor: Supervisor, tree: Tree, routes: Path, access_log: str | None) -> None:
    port = free_port()
    argv = [
        sys.executable, "-c", "from strangler.entry import main; main()", "serve",
        "--routes", str(routes), "--host", LOOPBACK, "--port", str(port), "--workers", "1",
        *(["--access-log", access_log] if access_log else []),
    ]  # fmt: skip
    env = {} if tree.path is None else {"PYTHONPATH": str(tree.path)}
    cwd = tree.path if tree.path is not None else ROOT
    tree.proc = supervisor.start(f"facade-{tree.label}", argv, env=env, cwd=cwd)
    wait_http(tree.proc, base_url(port) + "/healthz", timeout=60)
    tree.url = base_url(port) + PATH


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.per_request", description=__doc__)
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk before round 1")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--keep-workdir", action="store_true")
    parser.add_argument("--access-log", choices=("text", "json"), help="serve --access-log")
    parser.add_argument("--areas", type=Path, metavar="RAW", help="a py-spy raw profile")
    parser.add_argument("--us", type=float, default=0.0, help="µs/request, with --areas")
    parser.add_argument(
        "--functions", action="store_true", help="time the request path's functions instead"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.areas is not None:
        areas(args.areas, args.us)
        return
    trees = [Tree("current", None)]
    if args.tree:
        trees = []
        for spec in args.tree:
            label, _, path = spec.partition("=")
            trees.append(Tree(label, Path(path).resolve() if path else None))
    if args.functions:
        time_functions(trees, args.rounds)
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-per-request-"))
    load = Load("throughput", args.connections)
    script = write_script(workdir)
    print(f"load average at the start: {os.getloadavg()[0]:.2f}", flush=True)
    with Supervisor(workdir) as supervisor:
        upstream = start_standin(supervisor)
        routes = workdir / "routes.yaml"
        routes.write_text(routes_yaml(upstream))
        for tree in trees:
            start(supervisor, tree, routes, args.access_log)
            run_wrk(tree.url, load, args.warmup, script)
        for round_no in range(1, args.rounds + 1):
            # every other round in reverse order: the load drifts within a session, and the
            # tree measured second would otherwise always meet the later machine
            for tree in trees if round_no % 2 else trees[::-1]:
                assert tree.proc is not None
                before = cpu_seconds(tree.proc.pid)
                got = run_wrk(tree.url, load, args.duration, script)
                spent = cpu_seconds(tree.proc.pid) - before
                per = spent / got.requests * 1e6 if got.requests else float("nan")
                tree.us_per_request.append(per)
                tree.rps.append(got.rps)
                print(
                    f"round {round_no} {tree.label}: {per:.1f} µs/request "
                    f"({got.requests} requests, {got.rps:.0f}/s, {got.errors} errors, "
                    f"load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    for tree in trees:
        rounds = " ".join(f"{v:.1f}" for v in tree.us_per_request)
        print(
            f"{tree.label}: median {statistics.median(tree.us_per_request):.1f} µs/request "
            f"(rounds {rounds}); median {statistics.median(tree.rps):.0f} requests/s"
        )
    if args.keep_workdir:
        print(f"workdir kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
