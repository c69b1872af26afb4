"""``python -m bench``: every scenario in one run, then the tables, the verdict and the JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

from bench import report
from bench.nginx import STANDIN_BODY, nginx_version
from bench.procs import BenchError, Supervisor, http_get
from bench.report import ScenarioResult
from bench.targets import (
    ASYNCIO_FACADE,
    DEMO_INVENTORY,
    PATH,
    ROOT,
    SCENARIOS,
    Scenario,
    base_url,
    monolith_missing,
    prepare_monolith,
    start_front,
    start_monolith,
    start_standin,
    with_inventory,
)
from bench.wrk import Load, Measurement, run_wrk, write_script, wrk_version

EXIT_OK, EXIT_FAILURE, EXIT_REFUSED = 0, 1, 3
SUITES = ("baseline", "shadow", "replay", "sync", "connections", "issue17", "engines")
_DURATION = re.compile(r"^(\d+)(s|m)?$")


@dataclass(frozen=True, slots=True)
class Options:
    duration: int  # seconds per measured load shape
    warmup: int  # seconds of untimed load before measuring each target
    connections: int
    out: Path
    monolith: bool
    check: bool
    keep_workdir: bool
    rounds: int = 1  # each scenario measured this many times, interleaved; medians reported
    compare_loops: bool = False  # also (ca): the facade on asyncio's loop
    inventory: Path | None = None  # also (ci): the facade counting traffic per endpoint


@dataclass(slots=True)
class Run:
    """What one run measured, and why anything was left out."""

    options: Options
    results: list[ScenarioResult]
    skipped: dict[str, str]
    started: dt.datetime


def seconds(text: str) -> int:
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration such as 10s or 1m, got {text!r}")
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def add_load_shape_arguments(
    parser: argparse.ArgumentParser, *, quick: str = "smoke run: 3s, 1s warm-up"
) -> None:
    """--duration, --warmup, --quick and --connections: the wrk load shapes every suite that
    measures fronts takes, with the same defaults (``quick``: what --quick does there)."""
    parser.add_argument("--duration", type=seconds, default=10, help="per load shape (10s)")
    parser.add_argument("--warmup", type=seconds, default=2, help="before each target (2s)")
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--connections", type=int, default=32, help="throughput load (32)")


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Baseline: the facade vs direct access and nginx proxy_pass, in one run.",
    )
    parser.add_argument(
        "--suite",
        choices=SUITES,
        default="baseline",
        help="baseline (this one, the default), shadow, replay, sync, connections, issue17 "
        "or engines "
        "(see: --suite NAME --help)",
    )
    add_load_shape_arguments(parser)
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every scenario N times, report medians (1)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "baseline.json", help="JSON result"
    )
    parser.add_argument("--no-monolith", action="store_true", help="skip scenarios e, f, g")
    parser.add_argument("--check", action="store_true", help="exit 3 if the verdict is FAIL")
    parser.add_argument("--keep-workdir", action="store_true", help="keep configs and logs")
    parser.add_argument(
        "--compare-loops",
        action="store_true",
        help="also measure (ca): the facade on asyncio's own loop, beside (c) on its default",
    )
    parser.add_argument(
        "--inventory",
        type=Path,
        nargs="?",
        const=DEMO_INVENTORY,
        default=None,
        metavar="FILE",
        help="also measure (ci): the facade (1 worker) with legacy.endpoints: FILE (default: "
        "the demo shop's), counting traffic per endpoint, against (c) and (r)",
    )
    args = parser.parse_args(argv)
    return Options(
        duration=3 if args.quick else args.duration,
        warmup=1 if args.quick else args.warmup,
        connections=args.connections,
        out=args.out,
        monolith=not args.no_monolith,
        check=args.check,
        keep_workdir=args.keep_workdir,
        rounds=max(1, args.rounds),
        compare_loops=args.compare_loops,
        inventory=args.inventory,
    )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def suite_of(argv: Sequence[str]) -> str:
    """Which benchmark ``--suite`` names (``baseline`` when absent)."""
    picker = argparse.ArgumentParser(add_help=False)
    picker.add_argument("--suite", choices=SUITES, default="baseline")
    known, _ = picker.parse_known_args(argv)
    return str(known.suite)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if suite_of(args) == "shadow":
        from bench import shadow  # imports this module: loaded only when asked for

        shadow.main(args)
        return
    if suite_of(args) == "replay":
        from bench import replay  # imports this module: loaded only when asked for

        replay.main(args)
        return
    if suite_of(args) == "sync":
        from bench import sync  # imports this module: loaded only when asked for

        sync.main(args)
        return
    if suite_of(args) == "connections":
        from bench import connections  # imports this module: loaded only when asked for

        connections.main(args)
        return
    if suite_of(args) == "issue17":
        from bench import issue17  # imports this module: loaded only when asked for

        issue17.main(args)
        return
    if suite_of(args) == "engines":
        from bench import engines  # imports this module: loaded only when asked for

        engines.main(args)
        return
    run_suite(args, parse_args, execute, publish)


Opts = TypeVar("Opts")  # a suite's options
R = TypeVar("R")  # a suite's measured run


def run_suite(
    argv: Sequence[str],
    parse: Callable[[Sequence[str]], Opts],
    execute: Callable[[Opts], R],
    publish: Callable[[R], int],
) -> NoReturn:
    """Parse, measure, publish and exit with its status; every started process is stopped."""
    _stop_cleanly_on_signals()
    options = parse(argv)
    try:
        run = execute(options)
    except BenchError as exc:
        say(f"bench: {exc}")
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        say("bench: interrupted; every process it started was stopped")
        sys.exit(130)
    sys.exit(publish(run))


def _stop_cleanly_on_signals() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so the Supervisor stops what it started.

    SIGINT is set explicitly too: a shell starts background jobs with it ignored.
    """

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def execute(options: Options) -> Run:
    run = Run(options, [], {}, dt.datetime.now(dt.UTC))
    workdir = Path(tempfile.mkdtemp(prefix="strangler-bench-"))
    try:
        with Supervisor(workdir) as supervisor:
            script = write_script(workdir)
            upstreams = {"stand-in": start_standin(supervisor)}
            monolith = _start_monolith(run, supervisor)
            if monolith is not None:
                upstreams["monolith"] = monolith
            for number in range(1, options.rounds + 1):
                if options.rounds > 1:
                    say(f"bench: round {number} of {options.rounds}")
                for upstream, port in upstreams.items():
                    measure_upstream(run, supervisor, script, upstream, port)
    finally:
        if options.keep_workdir:
            say(f"bench: configs and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return run


def _start_monolith(run: Run, supervisor: Supervisor) -> int | None:
    """The monolith's port, or None (with the reason recorded) when it cannot be measured."""
    if not run.options.monolith:
        _skip_monolith(run, "--no-monolith")
        return None
    if reason := monolith_missing():
        _skip_monolith(run, reason)
        return None
    say("bench: preparing the monolith (migrate, seed) in a private database")
    try:
        return start_monolith(supervisor, prepare_monolith(supervisor.workdir))
    except BenchError as exc:
        _skip_monolith(run, str(exc))
        return None


def _skip_monolith(run: Run, reason: str) -> None:
    say(f"bench: SKIPPING the monolith scenarios (e, f, g): {reason}")
    for scenario in SCENARIOS:
        if scenario.upstream == "monolith":
            run.skipped[scenario.key] = reason


def measure_upstream(
    run: Run, supervisor: Supervisor, script: Path, upstream: str, port: int
) -> None:
    """Every scenario in front of one upstream, each front started and stopped in turn."""
    _, expected = http_get(base_url(port) + PATH)
    if upstream == "stand-in" and expected != STANDIN_BODY.encode():
        raise BenchError(f"the stand-in answered {expected!r}")
    for scenario in scenarios(run.options):
        if scenario.upstream != upstream:
            continue
        front = start_front(supervisor, scenario, port)
        try:
            run.results.append(measure(run.options, scenario, front.url + PATH, script, expected))
        finally:
            if front.proc is not None:
                supervisor.stop(front.proc)


def scenarios(options: Options) -> list[Scenario]:
    """SCENARIOS, (ca) after (c) with ``--compare-loops``, and (ci) after (r) with
    ``--inventory``."""
    found = list(SCENARIOS)
    if options.compare_loops:
        at = next(i for i, s in enumerate(found) if s.key == "c") + 1
        found.insert(at, ASYNCIO_FACADE)
    if options.inventory is not None:
        at = next(i for i, s in enumerate(found) if s.key == "r") + 1
        found.insert(at, with_inventory(options.inventory))
    return found


def measure(
    options: Options, scenario: Scenario, url: str, script: Path, expected: bytes
) -> ScenarioResult:
    """Check the answer, warm up, then one connection (latency) and N connections (throughput)."""
    status, body = http_get(url)
    if status != 200:
        raise BenchError(f"{scenario.label}: {url} answered {status}")
    if body != expected:
        say(f"bench: warning: {scenario.label} answered a body that differs from direct access")
    say(f"bench: ({scenario.key}) {scenario.label}: warming up {options.warmup}s")
    run_wrk(url, Load("warmup", options.connections), options.warmup, script)
    latency = _load(options, url, script, Load("latency", 1))
    throughput = _load(options, url, script, Load("throughput", options.connections))
    say(
        f"bench: ({scenario.key}) {scenario.label}: p50 {latency.p50_ms:.3f} ms at 1 connection, "
        f"{throughput.rps:,.0f} rps at {options.connections}"
    )
    return ScenarioResult(scenario, latency, throughput, body == expected)


def _load(options: Options, url: str, script: Path, load: Load) -> Measurement:
    result = run_wrk(url, load, options.duration, script)
    if result.errors:
        say(f"bench: warning: {result.errors} errors (socket errors or non-2xx) on {url}")
    return result


def environment() -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "-"

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return {
        "cpus": os.cpu_count(),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "aiohttp": version("aiohttp"),
        "gunicorn": version("gunicorn"),
        "django": version("Django"),
        "nginx": nginx_version(),
        "wrk": wrk_version(),
        "commit": commit or "-",
    }


def publish(run: Run) -> int:
    """Print the tables and the verdict, write the JSON; the exit code (3: FAIL with --check)."""
    results = report.medians(run.results)
    found = report.comparisons(results)
    verdict = report.verdict(found)
    env = environment()
    document = {
        "benchmark": "baseline",
        "date": run.started.isoformat(timespec="seconds"),
        "settings": {
            "duration_s": run.options.duration,
            "rounds": run.options.rounds,
            "warmup_s": run.options.warmup,
            "wrk_threads": 1,
            "connections": [1, run.options.connections],
            "path": PATH,
        },
        "environment": env,
        "results": [r.as_dict() for r in results],
        "rounds": [r.as_dict() for r in run.results] if run.options.rounds > 1 else None,
        "skipped": run.skipped,
        "comparisons": [c.as_dict() for c in found],
        "verdict": verdict.as_dict() if verdict else None,
        "inventory": report.inventory_effect(results, run.options.inventory),
    }
    run.options.out.parent.mkdir(parents=True, exist_ok=True)
    run.options.out.write_text(json.dumps(document, indent=2) + "\n")
    print(render(run, env, results, found, verdict))
    say(f"bench: JSON written to {run.options.out}")
    failed = verdict is None or not verdict.passed
    return EXIT_REFUSED if run.options.check and failed else EXIT_OK


def render(
    run: Run,
    env: dict[str, Any],
    results: list[ScenarioResult],
    found: list[report.Comparison],
    verdict: report.Verdict | None,
) -> str:
    o = run.options
    lines = [
        f"Measured {run.started:%Y-%m-%d %H:%M} UTC, commit {env['commit']}: wrk -t1, "
        f"{o.duration}s per load shape after a {o.warmup}s warm-up"
        + (f", medians of {o.rounds} interleaved rounds" if o.rounds > 1 else "")
        + "; latencies in ms; "
        f"{env['cpus']} CPUs, nginx {env['nginx']}, aiohttp {env['aiohttp']}.",
        "",
        report.results_table(results, o.connections),
        "",
        "Ratios (throughput at "
        f"{o.connections} connections; latency added at 1 connection, against direct access):",
        "",
        report.ratios_table(found),
        "",
        "Against the reference (a naive single-process aiohttp proxy):",
        "",
        *report.verdict_lines(verdict),
        *report.inventory_lines(report.inventory_effect(results, o.inventory)),
    ]
    by_reason: dict[str, list[str]] = {}
    for key, reason in run.skipped.items():
        by_reason.setdefault(reason.splitlines()[0], []).append(key)
    for reason, keys in by_reason.items():
        lines.append(f"- skipped ({', '.join(keys)}): {reason}")
    return "\n".join(lines)
