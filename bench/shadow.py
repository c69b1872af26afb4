"""``scripts/bench --suite shadow``: what shadow mode costs the client, in one run.

Scenarios, each a fresh facade (1 worker) in front of the same nginx stand-in legacy that
answers a 2 KB JSON body (``bench/payload.py``), measured with the baseline's wrk settings:

- (p)  pass-through: the capability in ``mode: legacy`` (the baseline for the ratios);
- (s1) shadow, identical candidate: a second nginx stand-in with the same body;
- (s2) shadow, slow candidate: ``bench/slow_upstream.py`` answers the same body after 2 s; the
  service timeout (3 s) is longer, so the slow calls really are in flight.

After each phase the facade's ``/metrics`` is read: shadow comparisons made (by outcome) and
shadow work dropped (by reason). Then the comparator micro-benchmark (``bench/compare_bench.py``)
runs in this process. Results: markdown on stdout, JSON in ``bench-results/shadow.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench import compare_bench, payload
from bench.cli import add_load_shape_arguments, environment, run_suite, say
from bench.nginx import standin_server, start_nginx
from bench.procs import LOOPBACK, BenchError, Managed, Supervisor, free_port, http_get, wait_http
from bench.report import markdown_table, results_table
from bench.targets import PATH, ROOT, base_url, venv_tool
from bench.wrk import Load, Measurement, run_wrk, write_script

EXIT_OK, EXIT_FAILURE, EXIT_REFUSED = 0, 1, 3
CAPABILITY = "product-catalog"
MIN_THROUGHPUT_RATIO = 0.5  # shadow (s1) keeps at least this share of pass-through's rps
MAX_P99_INCREASE = 0.10  # the slow candidate (s2 against s1) moves client p99 by less than this

Candidate = Literal["none", "identical", "slow"]
Counters = dict[tuple[str, str, str], float]  # (metric, capability, outcome/reason) -> value


@dataclass(frozen=True, slots=True)
class ShadowScenario:
    key: str
    label: str
    mode: Literal["legacy", "shadow"]
    candidate: Candidate


SCENARIOS: tuple[ShadowScenario, ...] = (
    ShadowScenario("p", "facade pass-through (mode: legacy)", "legacy", "none"),
    ShadowScenario("s1", "facade shadow, identical candidate", "shadow", "identical"),
    ShadowScenario("s2", "facade shadow, 2 s-slow candidate", "shadow", "slow"),
)


@dataclass(frozen=True, slots=True)
class Options:
    duration: int
    warmup: int
    connections: int
    rounds: int
    out: Path
    check: bool
    keep_workdir: bool
    delay: float  # seconds the slow candidate waits
    service_timeout: float  # the candidate service's timeout in routes.yaml
    compare_seconds: float  # per comparator case; 0 skips the micro-benchmark
    percent: float = 100.0  # the shadow scenarios' shadow.percent


@dataclass(frozen=True, slots=True)
class ShadowWork:
    """The facade's shadow counters over one phase (deltas of /metrics)."""

    requests: int  # client requests wrk completed in the phase
    seconds: float
    compared: dict[str, int]  # outcome -> comparisons (match, mismatch, candidate_error)
    dropped: dict[str, int]  # reason -> shadow jobs dropped (busy, compare_queue_full, store...)

    @property
    def compared_total(self) -> int:
        return sum(self.compared.values())

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "compared": self.compared,
            "dropped": self.dropped,
            "compared_per_s": round(self.compared_total / self.seconds, 1) if self.seconds else 0,
            "compared_share": round(self.compared_total / self.requests, 4) if self.requests else 0,
        }

    @classmethod
    def summed(cls, items: Sequence[ShadowWork]) -> ShadowWork:
        compared: dict[str, int] = {}
        dropped: dict[str, int] = {}
        for item in items:
            for k, v in item.compared.items():
                compared[k] = compared.get(k, 0) + v
            for k, v in item.dropped.items():
                dropped[k] = dropped.get(k, 0) + v
        return cls(sum(i.requests for i in items), sum(i.seconds for i in items), compared, dropped)


@dataclass(frozen=True, slots=True)
class Result:
    scenario: ShadowScenario
    latency: Measurement
    throughput: Measurement
    body_ok: bool
    shadow_latency: ShadowWork | None = None  # the 1-connection phase
    shadow_throughput: ShadowWork | None = None  # the N-connection phase, and its settling tail
    shadow_total: ShadowWork | None = None  # the facade's whole life, warm-up included

    def as_dict(self) -> dict[str, Any]:
        def work(w: ShadowWork | None) -> dict[str, Any] | None:
            return None if w is None else w.as_dict()

        return {
            "key": self.scenario.key,
            "label": self.scenario.label,
            "mode": self.scenario.mode,
            "candidate": self.scenario.candidate,
            "body_ok": self.body_ok,
            "latency": self.latency.as_dict(),
            "throughput": self.throughput.as_dict(),
            "shadow": None
            if self.shadow_total is None
            else {
                "latency_phase": work(self.shadow_latency),
                "throughput_phase": work(self.shadow_throughput),
                "whole_run": work(self.shadow_total),
            },
        }


@dataclass(slots=True)
class Run:
    options: Options
    started: dt.datetime
    results: list[Result] = field(default_factory=list)
    comparator: list[compare_bench.CaseResult] = field(default_factory=list)


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench --suite shadow",
        description="Shadow mode against pass-through (identical and 2 s-slow candidate), "
        "and compare_http per second, in one run.",
    )
    parser.add_argument("--suite", choices=["shadow"], default="shadow", help=argparse.SUPPRESS)
    add_load_shape_arguments(parser)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds, medians (1)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "shadow.json", help="JSON result"
    )
    parser.add_argument("--delay", type=float, default=2.0, help="slow candidate's delay (2)")
    parser.add_argument(
        "--service-timeout", type=float, default=3.0, help="candidate timeout, s (3)"
    )
    parser.add_argument(
        "--compare-seconds", type=float, default=2.0, help="per comparator case; 0 skips (2)"
    )
    parser.add_argument(
        "--percent",
        type=float,
        default=100.0,
        help="shadow.percent of the shadow scenarios: the share of requests shadowed (100)",
    )
    parser.add_argument("--check", action="store_true", help="exit 3 if a verdict is FAIL")
    parser.add_argument("--keep-workdir", action="store_true", help="keep configs and logs")
    args = parser.parse_args(argv)
    if not 0 < args.percent <= 100:
        parser.error("--percent must be above 0 and at most 100")
    if args.service_timeout <= args.delay:
        parser.error("--service-timeout must be longer than --delay, or no call is in flight")
    return Options(
        duration=3 if args.quick else args.duration,
        warmup=1 if args.quick else args.warmup,
        connections=args.connections,
        rounds=max(1, args.rounds),
        out=args.out,
        check=args.check,
        keep_workdir=args.keep_workdir,
        delay=args.delay,
        service_timeout=args.service_timeout,
        compare_seconds=0.5 if args.quick and args.compare_seconds else args.compare_seconds,
        percent=args.percent,
    )


def main(argv: Sequence[str]) -> None:
    run_suite(argv, parse_args, execute, publish)


# -- processes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upstreams:
    legacy: int
    identical: int
    slow: int


def start_upstreams(supervisor: Supervisor, delay: float) -> Upstreams:
    body = payload.BODY.decode()
    legacy, identical, slow = free_port(), free_port(), free_port()
    proc = start_nginx(supervisor, "legacy", workers=2, servers=standin_server(legacy, body))
    wait_http(proc, base_url(legacy) + PATH)
    proc = start_nginx(supervisor, "candidate", workers=1, servers=standin_server(identical, body))
    wait_http(proc, base_url(identical) + PATH)
    argv = [sys.executable, "-m", "bench.slow_upstream", str(slow), str(delay)]
    proc = supervisor.start("slow-candidate", argv, cwd=ROOT)
    wait_http(proc, base_url(slow) + "/healthz")
    for port in (legacy, identical):
        _, got = http_get(base_url(port) + PATH)
        if got != payload.BODY:
            raise BenchError(f"the stand-in on port {port} answered {got[:80]!r}...")
    return Upstreams(legacy, identical, slow)


def routes_yaml(
    scenario: ShadowScenario, ups: Upstreams, timeout: float, store: Path, percent: float = 100.0
) -> str:
    candidate = ups.slow if scenario.candidate == "slow" else ups.identical
    shadow = f"    shadow: {{percent: {percent:g}}}\n" if scenario.mode == "shadow" else ""
    return (
        "version: 1\n"
        f'legacy: {{url: "{base_url(ups.legacy)}"}}\n'
        "services:\n"
        f'  catalog: {{url: "{base_url(candidate)}", timeout: {timeout:g}s}}\n'
        "capabilities:\n"
        f"  {CAPABILITY}:\n"
        '    match: [{methods: [GET], path: "/api/products/{sku}"}]\n'
        "    service: catalog\n"
        f"    mode: {scenario.mode}\n"
        f"{shadow}"
        f'store: {{url: "sqlite:///{store}"}}\n'
    )


def start_facade(
    supervisor: Supervisor, scenario: ShadowScenario, routes: str
) -> tuple[Managed, str]:
    name = f"{scenario.key}-facade"
    path = supervisor.workdir / f"{name}-routes.yaml"
    path.write_text(routes)
    port = free_port()
    argv = [
        venv_tool("strangler"), "serve",
        "--routes", str(path),
        "--host", LOOPBACK,
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    proc = supervisor.start(name, argv)
    try:
        wait_http(proc, base_url(port) + "/healthz")
    except BenchError:
        supervisor.stop(proc)
        raise
    return proc, base_url(port)


# -- metrics -----------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^(strangler_shadow_(?:comparisons|dropped)_total)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def read_counters(url: str) -> Counters:
    """The shadow counters from the facade's Prometheus exposition."""
    status, body = http_get(url + "/metrics", timeout=5.0)
    if status != 200:
        raise BenchError(f"{url}/metrics answered {status}")
    found: Counters = {}
    for line in body.decode().splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match.group(2)))
        detail = labels.get("outcome") or labels.get("reason") or "-"
        key = (match.group(1), labels.get("capability", "-"), detail)
        found[key] = float(match.group(3))
    return found


def work_between(before: Counters, after: Counters, requests: int, seconds: float) -> ShadowWork:
    compared: dict[str, int] = {}
    dropped: dict[str, int] = {}
    for key, value in after.items():
        delta = int(value - before.get(key, 0.0))
        if delta == 0:
            continue
        metric, _, detail = key
        target = compared if metric.startswith("strangler_shadow_comparisons") else dropped
        target[detail] = target.get(detail, 0) + delta
    return ShadowWork(requests, seconds, compared, dropped)


def settle(url: str, longest: float) -> Counters:
    """Wait until the candidate calls of the last load have ended (counters still for 1 s)."""
    deadline = time.monotonic() + longest
    last = read_counters(url)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = read_counters(url)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= 1.0:
            break
    return last


# -- measuring ---------------------------------------------------------------------------------


def execute(options: Options) -> Run:
    run = Run(options, dt.datetime.now(dt.UTC))
    workdir = Path(tempfile.mkdtemp(prefix="strangler-bench-shadow-"))
    try:
        with Supervisor(workdir) as supervisor:
            script = write_script(workdir)
            ups = start_upstreams(supervisor, options.delay)
            for number in range(1, options.rounds + 1):
                if options.rounds > 1:
                    say(f"bench: round {number} of {options.rounds}")
                for scenario in SCENARIOS:
                    run.results.append(measure(options, supervisor, script, scenario, ups, number))
            if options.compare_seconds > 0:
                say(f"bench: comparator: 4 cases, {options.compare_seconds:g}s each")
                run.comparator = compare_bench.run(options.compare_seconds)
    finally:
        if options.keep_workdir:
            say(f"bench: configs and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return run


def measure(
    options: Options,
    supervisor: Supervisor,
    script: Path,
    scenario: ShadowScenario,
    ups: Upstreams,
    round_number: int,
) -> Result:
    store = supervisor.workdir / f"evidence-{scenario.key}-{round_number}.db"
    routes = routes_yaml(scenario, ups, options.service_timeout, store, options.percent)
    proc, base = start_facade(supervisor, scenario, routes)
    shadow = scenario.mode == "shadow"
    try:
        url = base + PATH
        status, body = http_get(url, timeout=5.0)
        if status != 200:
            raise BenchError(f"({scenario.key}) {url} answered {status}")
        body_ok = body == payload.BODY
        if not body_ok:
            say(f"bench: warning: ({scenario.key}) answered a body other than the legacy one")
        say(f"bench: ({scenario.key}) {scenario.label}: warming up {options.warmup}s")
        run_wrk(url, Load("warmup", options.connections), options.warmup, script)
        c0 = read_counters(base)
        latency = _load(options, url, script, Load("latency", 1))
        c1 = read_counters(base)
        throughput = _load(options, url, script, Load("throughput", options.connections))
        # the last candidate calls end at most one timeout later
        c2 = settle(base, options.service_timeout + 2.0) if shadow else read_counters(base)
    finally:
        supervisor.stop(proc)
    result = Result(scenario, latency, throughput, body_ok)
    if shadow:
        total_requests = latency.requests + throughput.requests
        result = Result(
            scenario,
            latency,
            throughput,
            body_ok,
            work_between(c0, c1, latency.requests, latency.seconds),
            work_between(c1, c2, throughput.requests, throughput.seconds),
            work_between({}, c2, total_requests, latency.seconds + throughput.seconds),
        )
    say(
        f"bench: ({scenario.key}) p50 {latency.p50_ms:.3f} / p99 {latency.p99_ms:.3f} ms at 1, "
        f"{throughput.rps:,.0f} rps, p99 {throughput.p99_ms:.2f} ms at {options.connections}"
        + (f"; shadow: {_work_text(result.shadow_total)}" if result.shadow_total else "")
    )
    return result


def _load(options: Options, url: str, script: Path, load: Load) -> Measurement:
    result = run_wrk(url, load, options.duration, script)
    if result.errors:
        say(f"bench: warning: {result.errors} errors (socket errors or non-2xx) on {url}")
    return result


def _work_text(work: ShadowWork | None) -> str:
    if work is None:
        return "-"
    compared = ", ".join(f"{k} {v:,}" for k, v in sorted(work.compared.items())) or "none"
    dropped = ", ".join(f"{k} {v:,}" for k, v in sorted(work.dropped.items())) or "none"
    return f"compared {work.compared_total:,} ({compared}); dropped {dropped}"


# -- report ------------------------------------------------------------------------------------


def medians(results: Sequence[Result]) -> list[Result]:
    """Per scenario: median wrk figures over rounds, shadow counters summed over rounds."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.scenario.key, []).append(r)
    out = []
    for group in groups.values():

        def summed(attr: str, group: list[Result] = group) -> ShadowWork | None:
            items = [getattr(r, attr) for r in group if getattr(r, attr) is not None]
            return ShadowWork.summed(items) if items else None

        out.append(
            Result(
                group[0].scenario,
                Measurement.median([r.latency for r in group]),
                Measurement.median([r.throughput for r in group]),
                all(r.body_ok for r in group),
                summed("shadow_latency"),
                summed("shadow_throughput"),
                summed("shadow_total"),
            )
        )
    return out


def change(new: float, base: float) -> float:
    """Relative change, new against base (0.1 = +10%)."""
    return new / base - 1 if base else 0.0


def pct(value: float) -> str:
    return f"{value * 100:+.1f}%"


@dataclass(frozen=True, slots=True)
class Verdicts:
    throughput_ratio: float  # s1 rps / p rps
    p99_change_1: float  # s2 against s1, p99 at 1 connection
    p99_change_n: float  # s2 against s1, p99 at N connections
    p99_vs_p_1: float  # s2 against p (pass-through), for context: carries shadow's own cost
    p99_vs_p_n: float

    @property
    def throughput_ok(self) -> bool:
        return self.throughput_ratio >= MIN_THROUGHPUT_RATIO

    @property
    def p99_ok(self) -> bool:
        return max(self.p99_change_1, self.p99_change_n) < MAX_P99_INCREASE

    def as_dict(self) -> dict[str, Any]:
        return {
            "throughput": {
                "basis": "s1 rps / p rps at N connections",
                "ratio": round(self.throughput_ratio, 4),
                "min": MIN_THROUGHPUT_RATIO,
                "pass": self.throughput_ok,
            },
            "slow_candidate_p99": {
                "basis": "s2 p99 against s1 p99, at 1 and at N connections; both must move "
                "less than +10% (a decrease passes)",
                "change_at_1": round(self.p99_change_1, 4),
                "change_at_n": round(self.p99_change_n, 4),
                "max": MAX_P99_INCREASE,
                "pass": self.p99_ok,
                "against_pass_through": {
                    "change_at_1": round(self.p99_vs_p_1, 4),
                    "change_at_n": round(self.p99_vs_p_n, 4),
                    "within_max": max(self.p99_vs_p_1, self.p99_vs_p_n) < MAX_P99_INCREASE,
                },
            },
            "pass": self.throughput_ok and self.p99_ok,
        }


def verdicts(by_key: Mapping[str, Result]) -> Verdicts:
    p, s1, s2 = by_key["p"], by_key["s1"], by_key["s2"]
    return Verdicts(
        s1.throughput.rps / p.throughput.rps if p.throughput.rps else 0.0,
        change(s2.latency.p99_ms, s1.latency.p99_ms),
        change(s2.throughput.p99_ms, s1.throughput.p99_ms),
        change(s2.latency.p99_ms, p.latency.p99_ms),
        change(s2.throughput.p99_ms, p.throughput.p99_ms),
    )


def ratios(by_key: Mapping[str, Result]) -> list[dict[str, Any]]:
    p, s1 = by_key["p"], by_key["s1"]
    rows = []
    for key, base in (("s1", p), ("s2", p), ("s2", s1)):
        r = by_key[key]
        rows.append(
            {
                "pair": f"{key}/{base.scenario.key}",
                "rps_ratio": round(r.throughput.rps / base.throughput.rps, 4),
                "p50_change_at_1": round(change(r.latency.p50_ms, base.latency.p50_ms), 4),
                "p99_change_at_1": round(change(r.latency.p99_ms, base.latency.p99_ms), 4),
                "p50_change_at_n": round(change(r.throughput.p50_ms, base.throughput.p50_ms), 4),
                "p99_change_at_n": round(change(r.throughput.p99_ms, base.throughput.p99_ms), 4),
            }
        )
    return rows


def publish(run: Run) -> int:
    results = medians(run.results)
    by_key = {r.scenario.key: r for r in results}
    found = ratios(by_key)
    verdict = verdicts(by_key)
    env = environment()
    o = run.options
    document = {
        "benchmark": "shadow",
        "date": run.started.isoformat(timespec="seconds"),
        "settings": {
            "duration_s": o.duration,
            "warmup_s": o.warmup,
            "rounds": o.rounds,
            "wrk_threads": 1,
            "connections": [1, o.connections],
            "path": PATH,
            "body_bytes": len(payload.BODY),
            "slow_candidate_delay_s": o.delay,
            "service_timeout_s": o.service_timeout,
            "compare_seconds_per_case": o.compare_seconds,
            "shadow_percent": o.percent,
        },
        "environment": env,
        "results": [r.as_dict() for r in results],
        "rounds": [r.as_dict() for r in run.results] if o.rounds > 1 else None,
        "ratios": found,
        "comparator": [c.as_dict() for c in run.comparator],
        "verdict": verdict.as_dict(),
    }
    o.out.parent.mkdir(parents=True, exist_ok=True)
    o.out.write_text(json.dumps(document, indent=2) + "\n")
    print(render(run, env, results, found, verdict))
    say(f"bench: JSON written to {o.out}")
    failed = not (verdict.throughput_ok and verdict.p99_ok)
    return EXIT_REFUSED if o.check and failed else EXIT_OK


def render(
    run: Run,
    env: dict[str, Any],
    results: Sequence[Result],
    found: Sequence[dict[str, Any]],
    verdict: Verdicts,
) -> str:
    o = run.options
    n = o.connections
    ratio_rows = [
        [
            d["pair"],
            f"{d['rps_ratio']:.3f}x",
            pct(d["p50_change_at_1"]),
            pct(d["p99_change_at_1"]),
            pct(d["p50_change_at_n"]),
            pct(d["p99_change_at_n"]),
        ]
        for d in found
    ]
    work_rows = []
    for r in results:
        for phase, work in (
            ("1 connection", r.shadow_latency),
            (f"{n} connections", r.shadow_throughput),
        ):
            if work is None:
                continue
            per_s = work.compared_total / work.seconds if work.seconds else 0.0
            work_rows.append(
                [
                    f"({r.scenario.key}) {phase}",
                    f"{work.requests:,}",
                    f"{work.compared_total:,}",
                    f"{per_s:,.0f}",
                    f"{work.compared_total / work.requests:.1%}" if work.requests else "-",
                    ", ".join(f"{k} {v:,}" for k, v in sorted(work.compared.items())) or "-",
                    ", ".join(f"{k} {v:,}" for k, v in sorted(work.dropped.items())) or "-",
                ]
            )
    rounds_note = f", summed over {o.rounds} rounds" if o.rounds > 1 else ""
    lines = [
        f"Measured {run.started:%Y-%m-%d %H:%M} UTC, commit {env['commit']}: wrk -t1, "
        f"{o.duration}s per load shape after a {o.warmup}s warm-up"
        + (f", medians of {o.rounds} interleaved rounds" if o.rounds > 1 else "")
        + f"; latencies in ms; {env['cpus']} CPUs, nginx {env['nginx']}, "
        f"aiohttp {env['aiohttp']}. Body {len(payload.BODY):,} bytes of JSON; slow candidate "
        f"{o.delay:g} s, service timeout {o.service_timeout:g} s; shadow.percent {o.percent:g}.",
        "",
        results_table(results, n),
        "",
        "Ratios (rps at N connections; latency change in %, against the base of the pair):",
        "",
        markdown_table(
            ["pair", "rps ratio", "p50 @1", "p99 @1", f"p50 @{n}", f"p99 @{n}"], ratio_rows
        ),
        "",
        f"Shadow work per phase (from the facade's /metrics{rounds_note}; the {n}-connection "
        "phase includes the candidate calls that ended after wrk stopped):",
        "",
        markdown_table(
            [
                "scenario, phase",
                "requests",
                "compared",
                "compared/s",
                "share",
                "outcomes",
                "dropped (reason)",
            ],
            work_rows,
        ),
    ]
    if run.comparator:
        lines += [
            "",
            f"Comparator (compare_http, one thread, {o.compare_seconds:g}s per case):",
            "",
            compare_bench.table(run.comparator),
        ]
    mark = {True: "PASS", False: "FAIL"}
    lines += [
        "",
        "Verdicts:",
        "",
        f"- throughput: shadow with an identical candidate keeps {verdict.throughput_ratio:.3f}x "
        f"of pass-through's rps at {n} connections (aim: at least {MIN_THROUGHPUT_RATIO}x) "
        f"**{mark[verdict.throughput_ok]}**",
        f"- slow candidate: client p99 of s2 against s1 moves {pct(verdict.p99_change_1)} at 1 "
        f"connection and {pct(verdict.p99_change_n)} at {n} (aim: less than "
        f"+{MAX_P99_INCREASE:.0%} at both) **{mark[verdict.p99_ok]}**",
        "- s2 is judged against s1 (shadow with a fast candidate), so only the candidate's speed "
        "differs. Against pass-through (p), which also carries shadow mode's own cost, s2 moves "
        f"p99 {pct(verdict.p99_vs_p_1)} at 1 connection and {pct(verdict.p99_vs_p_n)} at {n}: "
        + (
            "also within the aim."
            if max(verdict.p99_vs_p_1, verdict.p99_vs_p_n) < MAX_P99_INCREASE
            else "NOT within the aim (for information; see docs/benchmarks.md)."
        ),
    ]
    return "\n".join(lines)
