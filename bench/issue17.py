"""``scripts/bench --suite issue17``: every figure of issue 17's table, with its aim, in one run.

| figure | measured by |
|---|---|
| facade / naive aiohttp proxy, rps at 32 connections | the baseline's (c) and (r) |
| facade / nginx proxy_pass, rps | the baseline's (c) and (b) |
| added median latency at 1 connection, over direct | the baseline's (c) and (a) |
| shadow / pass-through rps, identical candidate | the shadow suite's (s1) and (p) |
| comparisons/s, differing 2 KB JSON bodies | bench.compare_bench, the slower of (3), (4) |
| comparisons/s, equal values in other bytes | bench.compare_bench (2) |
| strangler validate, routes.yaml with 10,000 capabilities | bench.routes_load, median |
| strangler serve ready with 10,000 capabilities | bench.routes_load, median |
| 10,000 keep-alive connections, 1,000 active: errors, RSS, p99 | bench.connections (item 5) |

Each part runs as its own suite does (same code, same settings), the parts one after the other:
a ratio compares two scenarios of the same part, measured minutes apart at most. The slow
shadow candidate (s2), the 2-worker and monolith scenarios and the deepdiff reference are left
out: no row needs them. Markdown on stdout, JSON in ``bench-results/issue17.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cli, compare_bench, connections, report, routes_load, shadow
from bench.cli import environment, run_suite, say, seconds
from bench.nginx import STANDIN_BODY
from bench.procs import BenchError, Supervisor, http_get
from bench.report import ScenarioResult, comparisons, markdown_table, ms, signed_ms
from bench.targets import PATH, ROOT, SCENARIOS, base_url, start_front, start_standin
from bench.wrk import write_script

EXIT_OK, EXIT_FAILURE, EXIT_REFUSED = 0, 1, 3
BASELINE_KEYS = ("a", "b", "c", "r")  # direct, nginx, facade, naive proxy: on the stand-in
SHADOW_KEYS = ("p", "s1")


@dataclass(frozen=True, slots=True)
class Options:
    duration: int
    warmup: int
    connections: int  # the baseline's and the shadow suite's throughput load
    compare_seconds: float
    load_rounds: int
    capabilities: int
    held: int
    active: int
    conn_duration: int
    out: Path
    check: bool
    keep_workdir: bool


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    now: str  # the "now" column: where the work started
    aim: str
    measured: float | None  # None: not measured in this run
    shown: str
    passed: bool | None  # None: a figure to state, no aim

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "issue_now": self.now,
            "aim": self.aim,
            "measured": self.measured,
            "shown": self.shown,
            "pass": self.passed,
        }


@dataclass(slots=True)
class Run:
    options: Options
    started: dt.datetime
    loadavg: list[tuple[str, tuple[float, float, float]]] = field(default_factory=list)
    baseline: list[ScenarioResult] = field(default_factory=list)
    shadow: list[shadow.Result] = field(default_factory=list)
    comparator: list[compare_bench.CaseResult] = field(default_factory=list)
    load: routes_load.LoadTimes | None = None
    fronts: list[connections.FrontResult] = field(default_factory=list)

    def note_load(self, part: str) -> None:
        self.loadavg.append((part, os.getloadavg()))


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench --suite issue17",
        description="Every figure of issue 17's table with its aim and a verdict, in one run "
        "(about 5 minutes; --quick: about 3).",
    )
    parser.add_argument("--suite", choices=["issue17"], help=argparse.SUPPRESS)
    cli.add_load_shape_arguments(parser, quick="smoke run: 3s shapes, 1 round")
    parser.add_argument(
        "--compare-seconds", type=float, default=2.0, help="per comparator case (2)"
    )
    parser.add_argument("--load-rounds", type=int, default=3, help="validate/serve rounds (3)")
    parser.add_argument(
        "--capabilities",
        type=int,
        default=routes_load.CAPABILITIES,
        help=f"in the large routes.yaml ({routes_load.CAPABILITIES:,})",
    )
    connections.add_arguments(parser)
    parser.add_argument(
        "--conn-duration", type=seconds, default=20, help="the connections' wrk load (20s)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "issue17.json", help="JSON"
    )
    parser.add_argument("--check", action="store_true", help="exit 3 if an aim does not hold")
    parser.add_argument("--keep-workdir", action="store_true", help="keep configs and logs")
    args = parser.parse_args(argv)
    connections.check_arguments(parser, args)
    quick = args.quick
    return Options(
        duration=3 if quick else args.duration,
        warmup=1 if quick else args.warmup,
        connections=args.connections,
        compare_seconds=0.5 if quick else args.compare_seconds,
        load_rounds=1 if quick else max(1, args.load_rounds),
        capabilities=args.capabilities,
        held=args.held,
        active=args.active,
        conn_duration=5 if quick else args.conn_duration,
        out=args.out,
        check=args.check,
        keep_workdir=args.keep_workdir,
    )


def main(argv: Sequence[str]) -> None:
    run_suite(argv, parse_args, execute, publish)


# -- measuring ---------------------------------------------------------------------------------


def execute(options: Options) -> Run:
    run = Run(options, dt.datetime.now(dt.UTC))
    run.note_load("start")
    workdir = Path(tempfile.mkdtemp(prefix="strangler-bench-issue17-"))
    try:
        with Supervisor(workdir) as supervisor:
            script = write_script(workdir)
            standin = start_standin(supervisor)
            part(
                run,
                "baseline (a, b, c, r)",
                lambda: measure_baseline(run, supervisor, script, standin),
            )
            part(run, "shadow (p, s1)", lambda: measure_shadow(run, supervisor, script))
            part(run, "comparator", lambda: measure_comparator(run))
            part(run, "routes.yaml load", lambda: measure_load(run, supervisor, standin))
            part(run, "connections", lambda: measure_connections(run, supervisor, script, standin))
    finally:
        if options.keep_workdir:
            say(f"bench: configs and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return run


def part(run: Run, name: str, measure: Callable[[], None]) -> None:
    say(f"bench: == {name} ==")
    measure()
    run.note_load(name)


def measure_baseline(run: Run, supervisor: Supervisor, script: Path, standin: int) -> None:
    o = run.options
    base = cli.Options(
        duration=o.duration,
        warmup=o.warmup,
        connections=o.connections,
        out=o.out,
        monolith=False,
        check=False,
        keep_workdir=False,
    )
    _, expected = http_get(base_url(standin) + PATH)
    if expected != STANDIN_BODY.encode():
        raise BenchError(f"the stand-in answered {expected!r}")
    for scenario in (s for s in SCENARIOS if s.key in BASELINE_KEYS):
        front = start_front(supervisor, scenario, standin)
        try:
            run.baseline.append(cli.measure(base, scenario, front.url + PATH, script, expected))
        finally:
            if front.proc is not None:
                supervisor.stop(front.proc)


def measure_shadow(run: Run, supervisor: Supervisor, script: Path) -> None:
    o = run.options
    options = shadow.Options(
        duration=o.duration,
        warmup=o.warmup,
        connections=o.connections,
        rounds=1,
        out=o.out,
        check=False,
        keep_workdir=False,
        delay=2.0,
        service_timeout=3.0,
        compare_seconds=0.0,
    )
    ups = shadow.start_upstreams(supervisor, options.delay)
    for scenario in (s for s in shadow.SCENARIOS if s.key in SHADOW_KEYS):
        run.shadow.append(shadow.measure(options, supervisor, script, scenario, ups, 1))


def measure_comparator(run: Run) -> None:
    seconds = run.options.compare_seconds
    for key, label, body in compare_bench.CASES:
        if key == "identical":
            continue  # no row of the table
        say(f"bench: comparator ({key}) {seconds:g}s")
        run.comparator.append(
            compare_bench.measure_case(key, label, body(), seconds, reference=False)
        )


def measure_load(run: Run, supervisor: Supervisor, standin: int) -> None:
    o = run.options
    say(f"bench: {o.capabilities:,} capabilities: validate and serve ready, {o.load_rounds} rounds")
    run.load = routes_load.measure(
        supervisor, standin, capabilities=o.capabilities, rounds=o.load_rounds
    )


def measure_connections(run: Run, supervisor: Supervisor, script: Path, standin: int) -> None:
    o = run.options
    options = connections.Options(
        held=o.held,
        active=o.active,
        duration=o.conn_duration,
        warmup=o.warmup,
        out=o.out,
        check=False,
        keep_workdir=False,
        naive=True,
        loop="",
    )
    run.fronts = connections.measure_fronts(options, supervisor, script, standin)
    # the facade on uvloop too: under saturation it left some requests waiting for seconds,
    # which made asyncio's loop the default (docs/benchmarks.md, "Connections at scale")
    on_uvloop = dataclasses.replace(options, naive=False, loop="uvloop")
    run.fronts += connections.measure_fronts(on_uvloop, supervisor, script, standin)


# -- the table ---------------------------------------------------------------------------------


def rows(run: Run) -> list[Row]:
    o = run.options
    found: list[Row] = []
    stand_in = next((c for c in comparisons(run.baseline) if c.name == "stand-in, 1 worker"), None)
    if stand_in is not None and stand_in.naive is not None:
        ratio = stand_in.ratio(stand_in.facade, stand_in.naive)
        found.append(
            Row(
                f"facade / naive aiohttp proxy, rps at {o.connections} connections",
                "0.80x", ">= 1.3x", ratio, f"{ratio:.3f}x", ratio >= 1.3,
            )
        )  # fmt: skip
    if stand_in is not None:
        ratio = stand_in.ratio(stand_in.facade, stand_in.nginx)
        found.append(
            Row("facade / nginx proxy_pass, rps", "0.119x", ">= 0.2x", ratio, f"{ratio:.3f}x",
                ratio >= 0.2)
        )  # fmt: skip
        added = stand_in.added(stand_in.facade, "p50_ms")
        found.append(
            Row("added median latency at 1 connection, over direct", "+0.35 ms", "<= +0.2 ms",
                added, f"{signed_ms(added)} ms", added <= 0.2)
        )  # fmt: skip
    by_key = {r.scenario.key: r for r in run.shadow}
    if "p" in by_key and "s1" in by_key and by_key["p"].throughput.rps:
        ratio = by_key["s1"].throughput.rps / by_key["p"].throughput.rps
        found.append(
            Row("shadow / pass-through rps, identical candidate", "0.62x", ">= 0.8x", ratio,
                f"{ratio:.3f}x", ratio >= 0.8)
        )  # fmt: skip
    cases = {c.key: c for c in run.comparator}
    differing = [cases[k] for k in ("one-field", "several") if k in cases]
    if differing:
        slowest = min(differing, key=lambda c: c.ops_per_s)
        shown = " / ".join(f"{c.ops_per_s:,.0f}" for c in differing) + " (one field / several)"
        found.append(
            Row("comparisons/s, differing 2 KB JSON bodies", "~520", ">= 20,000",
                slowest.ops_per_s, shown, slowest.ops_per_s >= 20_000)
        )  # fmt: skip
    if "reordered" in cases:
        rate = cases["reordered"].ops_per_s
        found.append(
            Row("comparisons/s, equal values in other bytes", "23,341", ">= 60,000", rate,
                f"{rate:,.0f}", rate >= 60_000)
        )  # fmt: skip
    if run.load is not None:
        n = f"{run.load.capabilities:,}"
        v, s = run.load.validate, run.load.serve_ready
        found.append(
            Row(f"strangler validate, routes.yaml with {n} capabilities", "8.0 s", "<= 1.5 s", v,
                f"{v:.2f} s", v <= 1.5)
        )  # fmt: skip
        found.append(
            Row(f"strangler serve ready with {n} capabilities", "21 s", "<= 3 s", s, f"{s:.2f} s",
                s <= 3.0)
        )  # fmt: skip
    facade = next((f for f in run.fronts if f.key == "c"), None)
    if facade is not None:
        held = f"{facade.held:,} connections, {facade.active:,} active"
        rss = facade.memory.hwm_kb / 1024
        found += [
            Row(f"{held}: errors", "-", "0", facade.errors, str(facade.errors),
                facade.errors == 0),
            Row(f"{held}: facade worker's peak RSS", "-", "<= 400 MB", rss, f"{rss:.0f} MiB",
                facade.rss_ok),
            Row(f"{held}: p99 of the active ones", "-", "stated", facade.load.p99_ms,
                f"{ms(facade.load.p99_ms)} ms (p50 {ms(facade.load.p50_ms)}, "
                f"{facade.load.rps:,.0f} rps)", None),
        ]  # fmt: skip
    on_uvloop = next((f for f in run.fronts if f.key == "cu"), None)
    if on_uvloop is not None:
        found.append(
            Row("the same, facade on uvloop: errors, p99", "-", "stated",
                on_uvloop.errors, f"{on_uvloop.errors} errors, p99 "
                f"{ms(on_uvloop.load.p99_ms)} ms ({on_uvloop.load.rps:,.0f} rps)", None)
        )  # fmt: skip
    return found


def table(found: Sequence[Row]) -> str:
    mark = {True: "PASS", False: "FAIL", None: "-"}
    return markdown_table(
        ["figure", "issue's now", "aim", "measured", "verdict"],
        [[r.figure, r.now, r.aim, r.shown, mark[r.passed]] for r in found],
    )


def publish(run: Run) -> int:
    env = environment()
    o = run.options
    found = rows(run)
    failed = [r.figure for r in found if r.passed is False]
    document = {
        "benchmark": "issue17",
        "date": run.started.isoformat(timespec="seconds"),
        "settings": {
            "duration_s": o.duration,
            "warmup_s": o.warmup,
            "connections": o.connections,
            "compare_seconds_per_case": o.compare_seconds,
            "load_rounds": o.load_rounds,
            "capabilities": o.capabilities,
            "held": o.held,
            "active": o.active,
            "conn_duration_s": o.conn_duration,
        },
        "environment": env,
        "loadavg_after": {name: [round(x, 2) for x in avg] for name, avg in run.loadavg},
        "table": [r.as_dict() for r in found],
        "failed": failed,
        "baseline": [r.as_dict() for r in run.baseline],
        "shadow": [r.as_dict() for r in run.shadow],
        "comparator": [c.as_dict() for c in run.comparator],
        "routes_load": run.load.as_dict() if run.load else None,
        "connections": [f.as_dict() for f in run.fronts],
    }
    o.out.parent.mkdir(parents=True, exist_ok=True)
    o.out.write_text(json.dumps(document, indent=2) + "\n")
    print(render(run, env, found))
    say(f"bench: JSON written to {o.out}")
    return EXIT_REFUSED if o.check and failed else EXIT_OK


def render(run: Run, env: dict[str, Any], found: Sequence[Row]) -> str:
    o = run.options
    loads = "; ".join(
        f"{name} {avg[0]:.2f}" for name, avg in run.loadavg
    )  # the 1-minute figure after each part
    holds = sum(1 for r in found if r.passed is True)
    judged = sum(1 for r in found if r.passed is not None)
    lines = [
        f"Measured {run.started:%Y-%m-%d %H:%M} UTC, commit {env['commit']}: wrk -t1, "
        f"{o.duration}s per load shape after a {o.warmup}s warm-up, {o.connections} connections "
        f"for throughput; comparator {o.compare_seconds:g}s per case; {o.load_rounds} round(s) "
        f"of validate and serve; {o.held:,} connections ({o.active:,} active) for "
        f"{o.conn_duration}s; {env['cpus']} CPUs. Load average (1 min) after each part: {loads}.",
        "",
        table(found),
        "",
        f"{holds} of {judged} aims hold in this run.",
        "",
        "Baseline scenarios (stand-in upstream):",
        "",
        report.results_table(run.baseline, o.connections),
        "",
        "Shadow scenarios:",
        "",
        report.results_table(run.shadow, o.connections),
    ]
    if run.comparator:
        lines += ["", "Comparator:", "", compare_bench.table(run.comparator)]
    if run.load is not None:
        rounds = ", ".join(f"{v:.2f}/{s:.2f}" for v, s in zip(
            run.load.validate_s, run.load.serve_ready_s, strict=True))  # fmt: skip
        lines += [
            "",
            f"routes.yaml of {run.load.capabilities:,} capabilities ({run.load.file_bytes:,} "
            f"bytes), validate/serve-ready seconds per round: {rounds}",
        ]
    if run.fronts:
        lines += [
            "",
            "Connections:",
            "",
            connections.results_table(run.fronts),
            "",
            *connections.verdict_lines(run.fronts),
        ]
    return "\n".join(lines)
