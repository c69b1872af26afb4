"""``scripts/bench --suite replay``: recorded flows replayed and compared per second.

A synthetic recording of ``--flows`` GETs (``/api/products/SKU-00001``..``SKU-00050`` in turn,
written as a mitmproxy flow file with ``parallel_run.flowfile.write_flows``) is replayed by
``strangler replay FILE --concurrency N --json``, a subprocess, once per scenario:

- (r1) fast stand-ins, identical: the legacy and the candidate are nginx answering the same
  ~2 KB JSON body (``bench/payload.py``): every comparison matches (the cheap path);
- (r2) fast stand-ins, one field differs: the candidate answers the body with one value
  changed: every comparison is a mismatch (deepdiff, bodies kept in the store);
- (r3) the real monolith (gunicorn, seeded) as the legacy *and* as the candidate: real Django
  answers, which match.

Each scenario gets a fresh SQLite result store. The figure is ``compared_per_second`` from the
replay's own summary (reading, routing, both calls, the comparison, the store writes); the
wall time of the whole command (interpreter start-up included) is shown beside it. Noise
learning is on as routes.yaml's default (10% twin calls to the legacy), as a team would run it.
Results: markdown on stdout, JSON in ``bench-results/replay.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import payload
from bench.cli import environment, run_suite, say
from bench.nginx import standin_server, start_nginx
from bench.procs import BenchError, Supervisor, free_port, http_get, wait_http
from bench.report import markdown_table
from bench.targets import (
    PATH,
    ROOT,
    base_url,
    monolith_missing,
    prepare_monolith,
    start_monolith,
    venv_tool,
)
from parallel_run.flowfile import write_flows
from parallel_run.traffic import RecordedExchange

EXIT_OK, EXIT_FAILURE = 0, 1
PRODUCTS = 50


@dataclass(frozen=True, slots=True)
class Options:
    flows: int
    concurrency: int
    monolith: bool
    out: Path
    keep_workdir: bool


@dataclass(frozen=True, slots=True)
class Result:
    key: str
    label: str
    flows: int
    compared: int
    mismatches: int
    candidate_errors: int
    skipped: dict[str, int]
    replay_seconds: float
    per_second: float
    wall_seconds: float
    exit_code: int


@dataclass(slots=True)
class Run:
    options: Options
    started: dt.datetime
    results: list[Result] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench --suite replay",
        description="strangler replay: flows replayed and compared per second.",
    )
    parser.add_argument("--suite", choices=["replay"], default="replay", help=argparse.SUPPRESS)
    parser.add_argument("--flows", type=int, default=10_000, help="flows recorded (10000)")
    parser.add_argument("--concurrency", type=int, default=32, help="replay concurrency (32)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1000 flows")
    parser.add_argument("--no-monolith", action="store_true", help="skip the monolith (r3)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "replay.json", help="JSON result"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep files and logs")
    args = parser.parse_args(argv)
    return Options(
        flows=1000 if args.quick else args.flows,
        concurrency=args.concurrency,
        monolith=not args.no_monolith,
        out=args.out,
        keep_workdir=args.keep_workdir,
    )


def main(argv: Sequence[str]) -> None:
    run_suite(argv, parse_args, execute, publish)


def recording(path: Path, flows: int) -> Path:
    exchanges = [
        RecordedExchange(
            method="GET",
            target=f"/api/products/SKU-{n % PRODUCTS + 1:05d}",
            headers=(("Accept", "application/json"),),
        )
        for n in range(flows)
    ]
    write_flows(path, exchanges)
    return path


def routes_yaml(legacy: int, candidate: int, store: Path) -> str:
    return (
        "version: 1\n"
        f'legacy: {{url: "{base_url(legacy)}"}}\n'
        "services:\n"
        f'  catalog: {{url: "{base_url(candidate)}", timeout: 5s}}\n'
        "capabilities:\n"
        "  product-catalog:\n"
        '    match: [{methods: [GET], path: "/api/products/{sku}"}]\n'
        "    service: catalog\n"
        "    mode: shadow\n"
        f'store: {{url: "sqlite:///{store}"}}\n'
    )


def execute(options: Options) -> Run:
    run = Run(options, dt.datetime.now(dt.UTC))
    workdir = Path(tempfile.mkdtemp(prefix="strangler-bench-replay-"))
    try:
        with Supervisor(workdir) as supervisor:
            say(f"bench: writing {options.flows} flows")
            flows = recording(workdir / "traffic.flows", options.flows)
            body = payload.BODY.decode()
            legacy, same, other = free_port(), free_port(), free_port()
            for name, port, text in (
                ("legacy", legacy, body),
                ("candidate", same, body),
                ("candidate-differs", other, payload.one_field_changed().decode()),
            ):
                proc = start_nginx(supervisor, name, workers=1, servers=standin_server(port, text))
                wait_http(proc, base_url(port) + PATH)
            _, got = http_get(base_url(legacy) + PATH)
            if got != payload.BODY:
                raise BenchError(f"the legacy stand-in answered {got[:80]!r}...")
            scenarios = [
                ("r1", "stand-ins, identical answers", legacy, same),
                ("r2", "stand-ins, one field differs", legacy, other),
            ]
            if not options.monolith:
                run.skipped["r3"] = "--no-monolith"
            elif reason := monolith_missing():
                run.skipped["r3"] = reason
            else:
                say("bench: preparing the monolith (migrate, seed) in a private database")
                shop = start_monolith(supervisor, prepare_monolith(workdir))
                scenarios.append(("r3", "real monolith as legacy and candidate", shop, shop))
            for key, label, legacy_port, candidate_port in scenarios:
                say(f"bench: {key} {label}")
                run.results.append(
                    measure(options, workdir, flows, key, label, legacy_port, candidate_port)
                )
    finally:
        if options.keep_workdir:
            say(f"bench: files and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return run


def measure(
    options: Options,
    workdir: Path,
    flows: Path,
    key: str,
    label: str,
    legacy: int,
    candidate: int,
) -> Result:
    routes = workdir / f"{key}-routes.yaml"
    routes.write_text(routes_yaml(legacy, candidate, workdir / f"{key}.db"))
    argv = [venv_tool("strangler"), "replay", str(flows), "--routes", str(routes)]
    argv += ["--concurrency", str(options.concurrency), "--json"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 3) or not done.stdout:
        raise BenchError(f"strangler replay exited {done.returncode}:\n{done.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    return Result(
        key=key,
        label=label,
        flows=options.flows,
        compared=summary["compared"],
        mismatches=summary["mismatches"],
        candidate_errors=summary["candidate_errors"],
        skipped=summary["skipped"],
        replay_seconds=summary["elapsed_s"],
        per_second=summary["compared_per_second"] or 0.0,
        wall_seconds=round(wall, 2),
        exit_code=done.returncode,
    )


def publish(run: Run) -> int:
    rows = [
        [
            f"({r.key}) {r.label}",
            str(r.compared),
            str(r.mismatches),
            str(r.candidate_errors),
            f"{r.replay_seconds:.1f}",
            f"{r.per_second:.0f}",
            f"{r.wall_seconds:.1f}",
        ]
        for r in run.results
    ]
    header = [
        "scenario",
        "compared",
        "mismatches",
        "candidate errors",
        "replay s",
        "flows/s",
        "wall s",
    ]
    print(
        f"## strangler replay: {run.options.flows} flows at concurrency {run.options.concurrency}\n"
    )
    print(markdown_table(header, rows))
    for key, reason in run.skipped.items():
        print(f"\n({key}) skipped: {reason}")
    data = {
        "suite": "replay",
        "started": run.started.isoformat(),
        "environment": environment(),
        "options": {**asdict(run.options), "out": str(run.options.out)},
        "results": [asdict(r) for r in run.results],
        "skipped": run.skipped,
    }
    run.options.out.parent.mkdir(parents=True, exist_ok=True)
    run.options.out.write_text(json.dumps(data, indent=2) + "\n")
    say(f"bench: wrote {run.options.out}")
    incomplete = any(r.compared != r.flows for r in run.results)
    if incomplete:
        say("bench: some flows were not compared (see skipped in the JSON)")
    return EXIT_FAILURE if incomplete else EXIT_OK
