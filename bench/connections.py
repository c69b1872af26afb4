"""``scripts/bench --suite connections``: many keep-alive client connections against one process.

Issue 17, item 5: 10,000 concurrent keep-alive client connections held open against one facade
worker, 1,000 of them active. Per front (the facade, 1 worker, then the naive aiohttp proxy as
the reference), in front of the nginx stand-in:

1. the front starts; its resident memory idle is read (``/proc/PID/status`` VmRSS);
2. ``bench/holder.py`` opens HELD - ACTIVE connections (9,000), asks once on each and keeps them
   open, idle, in a thread of this process;
3. wrk warms up, then loads ACTIVE (1,000) more connections for the duration: rps, p50, p99;
   so HELD connections are open at once (the front's open descriptors are sampled to show it);
4. the holder asks once more on every idle connection: each must still be open and answer 200.

Errors (must be 0): connections that could not open, answers other than 200, connections the
front closed, wrk's socket errors, timeouts and non-2xx answers. Memory: VmRSS sampled every
0.5 s and VmHWM (the process's peak) at the end; verdict on VmHWM against ``RSS_AIM_MB``.

The facade's connection cap: unset, ``limits.max_client_connections`` is 10,000 or 3/8 of what
the open-file limit leaves, whichever is lower (facade/connections.py): 7,380 at a hard limit
of 20,000 descriptors. This suite sets it to HELD plus a margin, as an operator who expects that
many connections would; the run says what the default would have been.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.cli import environment, run_suite, say, seconds
from bench.holder import Holder
from bench.procs import LOOPBACK, BenchError, Managed, Supervisor, free_port, http_get, wait_http
from bench.report import markdown_table, ms
from bench.targets import PATH, ROOT, base_url, start_standin, venv_tool
from bench.wrk import Load, Measurement, run_wrk, write_script

EXIT_OK, EXIT_FAILURE, EXIT_REFUSED = 0, 1, 3
LOOP_KEYS = {"asyncio": "ca", "uvloop": "cu"}  # the facade on a loop named with --loop
HELD = 10_000
ACTIVE = 1_000
RSS_AIM_MB = 400.0
CAP_MARGIN = 64  # the facade's cap above HELD: probes and a reconnecting wrk fit
WRK_TIMEOUT = 10.0  # seconds; 1,000 connections queue for one process, so answers take a while
FILES_PER_CONNECTION = 1  # what the client side needs per connection (the holder and wrk)
CLIENT_RESERVE = 256  # this process's own descriptors besides the connections


@dataclass(frozen=True, slots=True)
class Options:
    held: int  # connections open at once, the active ones included
    active: int  # of them, loaded by wrk
    duration: int
    warmup: int
    out: Path
    check: bool
    keep_workdir: bool
    naive: bool  # also the naive aiohttp proxy, the reference
    loop: str  # the facade's --loop ("": its default)


@dataclass(frozen=True, slots=True)
class Memory:
    """The front process's memory and descriptors, in KiB and counts."""

    rss_idle_kb: int  # started, answered a few requests
    rss_held_kb: int  # with the idle connections open, before wrk
    rss_peak_sampled_kb: int  # highest VmRSS seen while the connections were open
    hwm_kb: int  # VmHWM at the end: the peak over the process's life
    peak_fds: int  # most descriptors seen open: the connections, upstream ones, files

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FrontResult:
    key: str
    label: str
    held: int  # connections open at once during the load (idle held + wrk's)
    active: int
    open_seconds: float  # to open the idle ones, one request each
    load: Measurement  # wrk at ``active`` connections
    hold_errors: dict[str, int]  # the holder's failures, by kind
    kept: int  # idle connections that answered the last request and were still open
    refreshed: int  # idle connections asked again so the keep-alive timeout would not close them
    memory: Memory
    cap: dict[str, int] = field(default_factory=dict)  # the facade's cap: configured, default
    # the facade's own counters of refusals, timeouts and non-200 answers (/metrics)
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(self.hold_errors.values()) + self.load.errors

    @property
    def kb_per_connection(self) -> float:
        idle = self.held - self.active
        return (self.memory.rss_held_kb - self.memory.rss_idle_kb) / idle if idle else 0.0

    @property
    def rss_ok(self) -> bool:
        return self.memory.hwm_kb / 1024 <= RSS_AIM_MB

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "held": self.held,
            "active": self.active,
            "open_seconds": round(self.open_seconds, 2),
            "load": self.load.as_dict(),
            "hold_errors": self.hold_errors,
            "kept": self.kept,
            "refreshed": self.refreshed,
            "errors": self.errors,
            "memory": self.memory.as_dict(),
            "kb_per_idle_connection": round(self.kb_per_connection, 2),
            "cap": self.cap or None,
            "facade_counters": self.counters or None,
            "rss_aim_mb": RSS_AIM_MB,
            "rss_ok": self.rss_ok,
        }


@dataclass(slots=True)
class Run:
    options: Options
    started: dt.datetime
    loadavg_start: tuple[float, float, float]
    results: list[FrontResult] = field(default_factory=list)


# -- command line ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--held", type=int, default=HELD, help=f"connections at once ({HELD:,})")
    parser.add_argument(
        "--active", type=int, default=ACTIVE, help=f"of them loaded by wrk ({ACTIVE:,})"
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The options add_arguments declared, checked together: exit 2 naming them."""
    if not 0 < args.active <= args.held:
        parser.error("--active must be between 1 and --held")


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench --suite connections",
        description="10,000 keep-alive connections held open against one facade worker, 1,000 "
        "of them active: errors, the worker's RSS, p50/p99; the naive aiohttp proxy likewise.",
    )
    parser.add_argument("--suite", choices=["connections"], help=argparse.SUPPRESS)
    add_arguments(parser)
    parser.add_argument("--duration", type=seconds, default=20, help="wrk's measured load (20s)")
    parser.add_argument("--warmup", type=seconds, default=2, help="wrk's warm-up (2s)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5s, 1s warm-up")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive proxy")
    parser.add_argument("--loop", default="", help="the facade's --loop (default: its own)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "connections.json", help="JSON"
    )
    parser.add_argument("--check", action="store_true", help="exit 3 if a verdict is FAIL")
    parser.add_argument("--keep-workdir", action="store_true", help="keep configs and logs")
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    return Options(
        held=args.held,
        active=args.active,
        duration=5 if args.quick else args.duration,
        warmup=1 if args.quick else args.warmup,
        out=args.out,
        check=args.check,
        keep_workdir=args.keep_workdir,
        naive=not args.no_naive,
        loop=args.loop,
    )


def main(argv: Sequence[str]) -> None:
    run_suite(argv, parse_args, execute, publish)


# -- descriptors and memory ----------------------------------------------------------------------


def raise_open_files(needed: int) -> int:
    """Raise this process's soft open-file limit to its hard one (the fronts, wrk and the
    holder inherit it); BenchError when even that is below ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if limit < needed:
        raise BenchError(
            f"the open-file limit is {limit}, {needed} descriptors are needed per process: "
            f"raise it (ulimit -Hn) or lower --held"
        )
    return limit


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    return found


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Sampler:
    """Samples a process's VmRSS every 0.5 s and its descriptors every 2 s, in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_kb = 0
        self.peak_fds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.sample(fds=True)

    def sample(self, *, fds: bool) -> None:
        try:
            rss = proc_status(self.pid).get("VmRSS", 0)
        except OSError:
            return
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        if fds:
            self.peak_fds = max(self.peak_fds, open_fds(self.pid))

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(0.5):
            self.sample(fds=tick % 4 == 0)
            tick += 1


# -- the fronts ----------------------------------------------------------------------------------


def facade_routes(upstream_port: int, cap: int) -> str:
    return (
        f"version: 1\nlegacy:\n  url: {base_url(upstream_port)}\n"
        f"limits:\n  max_client_connections: {cap}\n"
    )


def start_facade(
    supervisor: Supervisor, upstream_port: int, cap: int, loop: str
) -> tuple[Managed, int]:
    routes = supervisor.workdir / "connections-facade-routes.yaml"
    routes.write_text(facade_routes(upstream_port, cap))
    port = free_port()
    argv = [
        venv_tool("strangler"), "serve",
        "--routes", str(routes),
        "--host", LOOPBACK,
        "--port", str(port),
        "--workers", "1",
        *(["--loop", loop] if loop else []),
    ]  # fmt: skip
    proc = supervisor.start("connections-facade", argv)
    try:
        wait_http(proc, base_url(port) + "/healthz")
    except BenchError:
        supervisor.stop(proc)
        raise
    return proc, port


def start_naive(supervisor: Supervisor, upstream_port: int) -> tuple[Managed, int]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.naive_proxy", str(port), base_url(upstream_port)]
    proc = supervisor.start("connections-naive", argv, cwd=ROOT)
    return proc, port


# what the facade counts of a connection or request that went wrong
_COUNTED = (
    "strangler_client_connections_refused_total",
    "strangler_client_timeouts_total",
    "strangler_accept_errors_total",
    "strangler_rejected_requests_total",
    "strangler_upstream_errors_total",
)


def facade_counters(port: int) -> dict[str, float]:
    """The facade's non-zero counters of refusals, timeouts and errors, and its answers other
    than 200 (``strangler_requests_total`` by status)."""
    status, body = http_get(base_url(port) + "/metrics", timeout=10.0)
    if status != 200:
        return {"metrics unreadable": float(status)}
    found: dict[str, float] = {}
    for line in body.decode().splitlines():
        name, _, value = line.rpartition(" ")
        if not name or line.startswith("#"):
            continue
        counted = name.startswith(_COUNTED) or (
            name.startswith("strangler_requests_total") and 'status="200"' not in name
        )
        if counted and float(value):
            found[name] = float(value)
    return found


def default_cap(open_files: int) -> int:
    """What the facade's cap would be with ``limits.max_client_connections`` unset, for a
    routes file with the monolith alone (its pool: 256 connections)."""
    from facade.connections import RESERVED_FILES, client_connection_cap

    return client_connection_cap(None, open_files=open_files, reserved=256 + RESERVED_FILES)


# -- measuring -----------------------------------------------------------------------------------


def execute(options: Options) -> Run:
    run = Run(options, dt.datetime.now(dt.UTC), os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="strangler-bench-connections-"))
    try:
        with Supervisor(workdir) as supervisor:
            script = write_script(workdir)
            upstream = start_standin(supervisor)
            run.results += measure_fronts(options, supervisor, script, upstream)
    finally:
        if options.keep_workdir:
            say(f"bench: configs and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return run


def measure_fronts(
    options: Options, supervisor: Supervisor, script: Path, upstream: int
) -> list[FrontResult]:
    """The facade (1 worker), then the naive proxy, each with the connections of ``options``;
    what the issue17 suite calls too."""
    limit = raise_open_files(options.held + CLIENT_RESERVE)
    cap = options.held + CAP_MARGIN
    found: list[FrontResult] = []
    proc, port = start_facade(supervisor, upstream, cap, options.loop)
    label = "facade (1 worker" + (f", --loop {options.loop}" if options.loop else "") + ")"
    caps = {"configured": cap, "default_at_this_limit": default_cap(limit), "open_files": limit}
    key = LOOP_KEYS.get(options.loop, "c")
    try:
        result = measure_front(options, script, key, label, proc, port, caps)
        found.append(dataclasses.replace(result, counters=facade_counters(port)))
    finally:
        supervisor.stop(proc)
    if options.naive:
        proc, port = start_naive(supervisor, upstream)
        try:
            wait_http(proc, base_url(port) + PATH)
            found.append(
                measure_front(options, script, "r", "naive aiohttp proxy (1 process)", proc, port)
            )
        finally:
            supervisor.stop(proc)
    return found


def measure_front(
    options: Options,
    script: Path,
    key: str,
    label: str,
    proc: Managed,
    port: int,
    cap: dict[str, int] | None = None,
) -> FrontResult:
    url = base_url(port) + PATH
    status, _ = http_get(url, timeout=5.0)
    if status != 200:
        raise BenchError(f"({key}) {label}: {url} answered {status}")
    idle = options.held - options.active
    rss_idle = proc_status(proc.pid)["VmRSS"]
    with Sampler(proc.pid) as sampler, Holder(LOOPBACK, port, PATH) as holder:
        say(f"bench: ({key}) {label}: opening {idle:,} idle keep-alive connections")
        opened_in = holder.open(idle)
        rss_held = proc_status(proc.pid)["VmRSS"]
        say(
            f"bench: ({key}) {holder.held:,} held in {opened_in:.1f}s "
            f"({sum(holder.errors.values())} errors), RSS {rss_held / 1024:.0f} MiB; "
            f"wrk warm-up {options.warmup}s at {options.active:,} connections"
        )
        load = Load("connections", options.active)
        run_wrk(url, Load("warmup", options.active), options.warmup, script, timeout=WRK_TIMEOUT)
        say(f"bench: ({key}) measuring {options.duration}s: {options.held:,} connections open")
        measured = run_wrk(url, load, options.duration, script, timeout=WRK_TIMEOUT)
        kept = holder.ask_all()
        errors = dict(holder.errors)
        refreshed = holder.refreshed
    memory = Memory(
        rss_idle_kb=rss_idle,
        rss_held_kb=rss_held,
        rss_peak_sampled_kb=sampler.peak_rss_kb,
        hwm_kb=proc_status(proc.pid)["VmHWM"],
        peak_fds=sampler.peak_fds,
    )
    result = FrontResult(
        key, label, idle + options.active, options.active, opened_in, measured, errors, kept,
        refreshed, memory, cap or {},
    )  # fmt: skip
    say(
        f"bench: ({key}) {measured.rps:,.0f} rps, p50 {measured.p50_ms:.1f} / p99 "
        f"{measured.p99_ms:.1f} ms at {options.active:,}; {result.errors} errors; "
        f"RSS peak {memory.hwm_kb / 1024:.0f} MiB, {memory.peak_fds:,} descriptors"
    )
    return result


# -- report --------------------------------------------------------------------------------------


def results_table(results: Sequence[FrontResult]) -> str:
    header = [
        "front", "open at once", "active", "rps", "p50", "p99", "max", "errors",
        "RSS idle MiB", "RSS held MiB", "RSS peak MiB", "KiB/idle conn", "peak fds",
    ]  # fmt: skip
    rows = [
        [
            f"({r.key}) {r.label}",
            f"{r.held:,}",
            f"{r.active:,}",
            f"{r.load.rps:,.0f}",
            ms(r.load.p50_ms),
            ms(r.load.p99_ms),
            ms(r.load.max_ms),
            str(r.errors),
            f"{r.memory.rss_idle_kb / 1024:.0f}",
            f"{r.memory.rss_held_kb / 1024:.0f}",
            f"{r.memory.hwm_kb / 1024:.0f}",
            f"{r.kb_per_connection:.1f}",
            f"{r.memory.peak_fds:,}",
        ]
        for r in results
    ]
    return markdown_table(header, rows)


def verdict_lines(results: Sequence[FrontResult]) -> list[str]:
    facade = next((r for r in results if r.key in ("c", *LOOP_KEYS.values())), None)
    if facade is None:
        return ["- verdict: the facade was not measured"]
    mark = {True: "PASS", False: "FAIL"}
    lines = [
        f"- errors: {facade.errors} with {facade.held:,} connections open, {facade.active:,} "
        f"active (aim: 0) **{mark[facade.errors == 0]}**",
        f"- RSS: peak {facade.memory.hwm_kb / 1024:.0f} MiB (VmHWM) of the facade worker "
        f"(aim: at most {RSS_AIM_MB:.0f} MB) **{mark[facade.rss_ok]}**",
        f"- p99 at {facade.active:,} active connections: {ms(facade.load.p99_ms)} ms "
        f"(p50 {ms(facade.load.p50_ms)} ms, {facade.load.rps:,.0f} rps)",
    ]
    for r in results:
        if r.load.error_kinds:
            kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(r.load.error_kinds.items()))
            lines.append(f"- ({r.key}) wrk's errors: {kinds}")
        if r is not facade and r.key in LOOP_KEYS.values():
            lines.append(
                f"- ({r.key}) {r.label}: {r.errors} errors, p99 "
                f"{ms(r.load.p99_ms)} ms, max {ms(r.load.max_ms)} ms, {r.load.rps:,.0f} rps"
            )
        if r.counters:
            counted = ", ".join(f"{k} {v:g}" for k, v in sorted(r.counters.items()))
            lines.append(f"- ({r.key}) the facade counted: {counted}")
        if r.hold_errors:
            kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(r.hold_errors.items()))
            lines.append(f"- ({r.key}) idle connections' errors: {kinds}")
    naive = next((r for r in results if r.key == "r"), None)
    if naive is not None and naive.load.rps:
        lines.append(
            f"- against the naive proxy (r): {facade.load.rps / naive.load.rps:.2f}x its rps, "
            f"{facade.memory.hwm_kb / max(1, naive.memory.hwm_kb):.2f}x its peak RSS"
        )
    if facade.cap:
        lines.append(
            f"- the facade's limits.max_client_connections was set to {facade.cap['configured']:,}"
            f"; unset, it would be {facade.cap['default_at_this_limit']:,} at this open-file "
            f"limit ({facade.cap['open_files']:,})"
        )
    return lines


def passed(results: Sequence[FrontResult]) -> bool:
    facade = next((r for r in results if r.key in ("c", *LOOP_KEYS.values())), None)
    return facade is not None and facade.errors == 0 and facade.rss_ok


def publish(run: Run) -> int:
    env = environment()
    o = run.options
    document = {
        "benchmark": "connections",
        "date": run.started.isoformat(timespec="seconds"),
        "settings": {
            "held": o.held,
            "active": o.active,
            "duration_s": o.duration,
            "warmup_s": o.warmup,
            "wrk_threads": 1,
            "wrk_timeout_s": WRK_TIMEOUT,
            "path": PATH,
            "loop": o.loop or "default",
        },
        "environment": {**env, "loadavg_at_start": [round(x, 2) for x in run.loadavg_start]},
        "results": [r.as_dict() for r in run.results],
        "pass": passed(run.results),
    }
    o.out.parent.mkdir(parents=True, exist_ok=True)
    o.out.write_text(json.dumps(document, indent=2) + "\n")
    print(render(run, env))
    say(f"bench: JSON written to {o.out}")
    return EXIT_REFUSED if o.check and not passed(run.results) else EXIT_OK


def render(run: Run, env: dict[str, Any]) -> str:
    o = run.options
    start = ", ".join(f"{x:.2f}" for x in run.loadavg_start)
    end = ", ".join(f"{x:.2f}" for x in env["loadavg_at_end"])
    return "\n".join(
        [
            f"Measured {run.started:%Y-%m-%d %H:%M} UTC, commit {env['commit']}: "
            f"{o.held:,} keep-alive connections open at once, {o.active:,} of them loaded by "
            f"wrk -t1 for {o.duration}s after a {o.warmup}s warm-up; latencies in ms; "
            f"{env['cpus']} CPUs; load average {start} at the start, {end} at the end.",
            "",
            results_table(run.results),
            "",
            *verdict_lines(run.results),
        ]
    )
