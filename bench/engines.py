"""``scripts/bench --suite engines``: the Envoy engine against a hand-written Envoy route, the
Python facade and nginx, shadow through the mirror, and the compare service, in one run.

1. Speed, every front with ONE worker thread, in front of the same nginx stand-in (the
   baseline's 73-byte JSON body): direct access; a minimal hand-written static Envoy route
   (``--concurrency 1``: one listener, ``prefix: /`` to one cluster, the router filter and
   nothing else); ``strangler serve --engine envoy --workers 1`` on a routes.yaml with one
   capability per route kind (``legacy``, ``extracted``, ``canary`` at 50%), each route kind
   measured; ``strangler serve --engine python --workers 1`` on the same file and routes; nginx
   ``proxy_pass`` (1 worker). rps at N connections, p50/p99 at N and at 1 connection.
2. Shadow through the mirror: ``serve --engine envoy`` with one capability in ``shadow`` at
   ``shadow.percent: 10``, mirrored to a running ``strangler compare-service`` (the monolith
   and the candidate are nginx stand-ins answering the same 2 KB body), against the same file
   with the capability in ``legacy`` (the same processes run: the compare service idles).
   Besides the saturated load shapes, both are measured at a fixed offered rate
   (``--shadow-rate``, paced wrk connections), where the client's tail is what a request
   costs rather than a queue; ``--pin-compare`` gives the compare service a CPU of its own
   for the shadow part (Envoy and wrk on the others), as it would have on its own host.
3. The compare service (``bench.compare_service``): comparisons per second at 1 and 2 processes.

Rounds are interleaved (every front once per round); medians are reported. The load average
is recorded at the start and at the end. Results: markdown on stdout, JSON in
``bench-results/engines.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench import compare_service, payload
from bench.cli import add_load_shape_arguments, environment, run_suite, say
from bench.nginx import STANDIN_BODY, proxy_server, standin_server, start_nginx
from bench.procs import (
    LOOPBACK,
    BenchError,
    Managed,
    Supervisor,
    free_port,
    http_get,
    tree_cpu_seconds,
    wait_http,
)
from bench.report import markdown_table, ms, results_table
from bench.targets import PATH, ROOT, base_url, venv_tool
from bench.wrk import Load, Measurement, run_wrk, write_paced_script, write_script

EXIT_OK, EXIT_REFUSED = 0, 3
MIN_OVER_HAND_WRITTEN = 0.9  # the engine's rps against a minimal hand-written Envoy route
MIN_OVER_PYTHON = 3.0  # the engine's rps against the Python facade, same worker count
MAX_SHADOW_P99 = 1.10  # shadow at 10% through the mirror: client p99 against pass-through
SHADOW_PERCENT = 10
SHADOW_RATE = 2000  # requests/s offered in the shadow scenarios' paced load
PACED_CONNECTIONS = 16

Front = Literal["direct", "hand", "engine", "python", "nginx"]
RouteKind = Literal["legacy", "extracted", "canary"]
ROUTE_KINDS: tuple[RouteKind, ...] = ("legacy", "extracted", "canary")


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    label: str
    front: Front
    route: RouteKind | None = None  # the capability's path on the engines' routes.yaml

    @property
    def path(self) -> str:
        return PATH if self.route is None else f"/api/{self.route}/SKU-00001"


TARGETS: tuple[Target, ...] = (
    Target("a", "direct → stand-in", "direct"),
    Target("h", "hand-written Envoy route (--concurrency 1)", "hand"),
    *(Target(f"e-{k}", f"Envoy engine (1 worker), {k} route", "engine", k) for k in ROUTE_KINDS),
    *(Target(f"p-{k}", f"Python facade (1 worker), {k} route", "python", k) for k in ROUTE_KINDS),
    Target("n", "nginx proxy_pass (1 worker)", "nginx"),
)
FRONTS: tuple[Front, ...] = ("direct", "hand", "engine", "python", "nginx")


@dataclass(frozen=True, slots=True)
class ShadowTarget:
    key: str
    label: str
    mode: Literal["legacy", "shadow"]


SHADOW_TARGETS: tuple[ShadowTarget, ...] = (
    ShadowTarget("s-off", "Envoy engine, the capability in legacy (pass-through)", "legacy"),
    ShadowTarget(
        "s-10",
        f"Envoy engine, shadow at {SHADOW_PERCENT}% mirrored to the compare service",
        "shadow",
    ),
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
    shadow: bool
    compare_processes: tuple[int, ...]  # empty: the compare service is not measured
    shadow_rate: float = SHADOW_RATE  # 0: no paced load in the shadow scenarios
    pin_compare: bool = False
    fronts: bool = True


@dataclass(frozen=True, slots=True)
class Result:
    scenario: Target | ShadowTarget
    latency: Measurement
    throughput: Measurement
    mirrored: dict[str, float] | None = None  # shadow: the compare service's counters moved
    # the front's CPU time per request at N connections (its process tree), in microseconds
    cpu_us: float | None = None
    paced: Measurement | None = None  # shadow: the fixed offered rate (--shadow-rate)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.scenario.key,
            "label": self.scenario.label,
            "latency": self.latency.as_dict(),
            "throughput": self.throughput.as_dict(),
            "paced": None if self.paced is None else self.paced.as_dict(),
            "cpu_us_per_request": self.cpu_us,
            "mirrored": self.mirrored,
        }


@dataclass(slots=True)
class Run:
    options: Options
    started: dt.datetime
    load_at_start: tuple[float, float, float]
    results: list[Result] = field(default_factory=list)
    compare: list[compare_service.CompareRun] = field(default_factory=list)


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench --suite engines",
        description="The Envoy engine against a hand-written Envoy route, the Python facade and "
        "nginx (one worker each); shadow through the mirror; the compare service.",
    )
    parser.add_argument("--suite", choices=["engines"], default="engines", help=argparse.SUPPRESS)
    add_load_shape_arguments(parser)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds, medians (1)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "engines.json", help="JSON result"
    )
    parser.add_argument("--no-shadow", action="store_true", help="skip the shadow scenarios")
    parser.add_argument(
        "--no-fronts", action="store_true", help="skip the fronts (the shadow scenarios alone)"
    )
    parser.add_argument(
        "--compare-processes",
        type=int,
        nargs="*",
        default=[1, 2],
        metavar="N",
        help="compare service processes to measure (1 2); none: skipped",
    )
    parser.add_argument(
        "--shadow-rate",
        type=float,
        default=SHADOW_RATE,
        metavar="RPS",
        help="the shadow scenarios' paced load, requests/s offered over "
        f"{PACED_CONNECTIONS} connections ({SHADOW_RATE}; 0: none)",
    )
    parser.add_argument(
        "--pin-compare",
        action="store_true",
        help="shadow scenarios: the compare service on a CPU of its own, Envoy and wrk on the "
        "others (needs 2 CPUs or more)",
    )
    parser.add_argument("--check", action="store_true", help="exit 3 if a verdict is FAIL")
    parser.add_argument("--keep-workdir", action="store_true", help="keep configs and logs")
    args = parser.parse_args(argv)
    return Options(
        duration=3 if args.quick else args.duration,
        warmup=1 if args.quick else args.warmup,
        connections=args.connections,
        rounds=max(1, args.rounds),
        out=args.out,
        check=args.check,
        keep_workdir=args.keep_workdir,
        shadow=not args.no_shadow,
        compare_processes=tuple(args.compare_processes),
        shadow_rate=max(0.0, args.shadow_rate),
        pin_compare=args.pin_compare,
        fronts=not args.no_fronts,
    )


def main(argv: Sequence[str]) -> None:
    run_suite(argv, parse_args, execute, publish)


# -- configurations ----------------------------------------------------------------------------


def hand_written_envoy(port: int, upstream_port: int) -> dict[str, Any]:
    """The smallest static Envoy that proxies everything to one cluster: what Envoy itself
    costs, without the export's routes, filters and checks."""
    hcm = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    address = {"socket_address": {"address": LOOPBACK, "port_value": upstream_port}}
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "hand",
                    "address": {"socket_address": {"address": LOOPBACK, "port_value": port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": hcm + "HttpConnectionManager",
                                        "stat_prefix": "hand",
                                        "route_config": {
                                            "virtual_hosts": [
                                                {
                                                    "name": "all",
                                                    "domains": ["*"],
                                                    "routes": [
                                                        {
                                                            "match": {"prefix": "/"},
                                                            "route": {"cluster": "standin"},
                                                        }
                                                    ],
                                                }
                                            ]
                                        },
                                        "http_filters": [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {
                                                    "@type": "type.googleapis.com/envoy."
                                                    "extensions.filters.http.router.v3.Router"
                                                },
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "standin",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "standin",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
                    },
                }
            ],
        }
    }


def engines_routes(legacy_port: int, service_port: int) -> str:
    """One capability per route kind, the monolith and the service both nginx stand-ins."""
    caps = "".join(
        f"  {kind}-route:\n"
        f'    match: [{{methods: [GET], path: "/api/{kind}/{{sku}}"}}]\n'
        "    service: catalog\n"
        f"    mode: {kind}\n" + ("    canary: {percent: 50}\n" if kind == "canary" else "")
        for kind in ROUTE_KINDS
    )
    return (
        "version: 1\n"
        f'legacy: {{url: "{base_url(legacy_port)}"}}\n'
        f'services:\n  catalog: {{url: "{base_url(service_port)}"}}\n'
        f"capabilities:\n{caps}"
    )


def shadow_routes(mode: str, legacy_port: int, candidate_port: int, store: Path) -> str:
    return (
        "version: 1\n"
        f'legacy: {{url: "{base_url(legacy_port)}"}}\n'
        f'services:\n  catalog: {{url: "{base_url(candidate_port)}", timeout: 3s}}\n'
        "capabilities:\n"
        "  product-catalog:\n"
        '    match: [{methods: [GET], path: "/api/products/{sku}"}]\n'
        "    service: catalog\n"
        f"    mode: {mode}\n"
        f"    shadow: {{percent: {SHADOW_PERCENT}}}\n"
        f'store: {{url: "sqlite:///{store}"}}\n'
    )


# -- processes ---------------------------------------------------------------------------------


def start_hand_envoy(sup: Supervisor, upstream_port: int) -> tuple[Managed, str]:
    port = free_port()
    config = sup.workdir / "hand-envoy.json"
    config.write_text(json.dumps(hand_written_envoy(port, upstream_port), indent=1))
    argv = [
        venv_tool("envoy"), "-c", str(config), "--concurrency", "1",
        "--disable-hot-restart", "-l", "warning",
    ]  # fmt: skip
    # its own session (Supervisor): the wheel's launcher forwards signals to Envoy
    return sup.start("hand-envoy", argv), base_url(port)


def start_serve(
    sup: Supervisor, name: str, engine: str, routes: str, extra: Sequence[str] = ()
) -> tuple[Managed, str]:
    path = sup.workdir / f"{name}-routes.yaml"
    path.write_text(routes)
    port = free_port()
    argv = [
        venv_tool("strangler"),
        "serve",
        "--engine",
        engine,
        "--routes",
        str(path),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
        *extra,
    ]
    proc = sup.start(name, argv)
    try:
        wait_http(proc, base_url(port) + "/healthz", timeout=90)
    except BenchError:
        sup.stop(proc)
        raise
    return proc, base_url(port)


def start_front(sup: Supervisor, front: Front, ports: dict[str, int]) -> tuple[Managed | None, str]:
    if front == "direct":
        return None, base_url(ports["legacy"])
    if front == "hand":
        return start_hand_envoy(sup, ports["legacy"])
    if front == "nginx":
        port = free_port()
        proc = start_nginx(
            sup, "nginx-proxy", workers=1, servers=proxy_server(port, ports["legacy"])
        )
        return proc, base_url(port)
    return start_serve(
        sup,
        front,
        "envoy" if front == "engine" else "python",
        engines_routes(ports["legacy"], ports["service"]),
    )


# -- measuring ---------------------------------------------------------------------------------


def measure(
    options: Options,
    label: str,
    url: str,
    script: Path,
    expected: bytes,
    warmed: Callable[[], None] | None = None,
    proc: Managed | None = None,
) -> tuple[Measurement, Measurement, float | None]:
    """Check the answer, warm up (then call ``warmed``), then 1 and N connections; with
    ``proc``, also its process tree's CPU microseconds per request at N connections."""
    status, body = http_get(url)
    if status != 200 or body != expected:
        raise BenchError(f"{label}: {url} answered {status} {body[:80]!r}")
    say(f"bench: {label}: warming up {options.warmup}s")
    run_wrk(url, Load("warmup", options.connections), options.warmup, script)
    if warmed is not None:
        warmed()
    latency = run_wrk(url, Load("latency", 1), options.duration, script)
    cpu_before = None if proc is None else tree_cpu_seconds(proc.pid)
    throughput = run_wrk(url, Load("throughput", options.connections), options.duration, script)
    cpu_us = None
    if proc is not None and cpu_before is not None and throughput.requests:
        cpu_us = (tree_cpu_seconds(proc.pid) - cpu_before) / throughput.requests * 1e6
    for m in (latency, throughput):
        if m.errors:
            say(f"bench: warning: {m.errors} errors (socket errors or non-2xx) on {url}")
    say(
        f"bench: {label}: {throughput.rps:,.0f} rps at {options.connections}, "
        f"p99 {throughput.p99_ms:.2f} ms; p50 {latency.p50_ms:.3f} ms at 1"
        + ("" if cpu_us is None else f"; {cpu_us:.1f} CPU µs/request")
    )
    return latency, throughput, cpu_us


def wait_idle(proc: Managed, longest: float = 20.0, share: float = 0.05) -> None:
    """Until the front's process tree uses under ``share`` of a core over half a second:
    ``serve`` answers before its helpers have finished starting (imports, the store), and
    that work must not be counted as the first route's."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        used = tree_cpu_seconds(proc.pid)
        time.sleep(0.5)
        if tree_cpu_seconds(proc.pid) - used < 0.5 * share:
            return
    say(f"bench: warning: {proc.name} still busy {longest:.0f}s after it answered")


def measure_fronts(run: Run, sup: Supervisor, script: Path, ports: dict[str, int]) -> None:
    for front in FRONTS:
        wait_for = [t for t in TARGETS if t.front == front]
        proc, url = start_front(sup, front, ports)
        try:
            if proc is not None:
                for target in wait_for:
                    wait_http(proc, url + target.path, timeout=90)
                wait_idle(proc)
            for target in wait_for:
                latency, throughput, cpu_us = measure(
                    run.options,
                    f"({target.key}) {target.label}",
                    url + target.path,
                    script,
                    STANDIN_BODY.encode(),
                    proc=proc,
                )
                run.results.append(Result(target, latency, throughput, cpu_us=cpu_us))
        finally:
            if proc is not None:
                sup.stop(proc, timeout=20)


def mirror_counters(url: str) -> dict[str, float]:
    return {
        "compared": compare_service.metric_sum(url, "strangler_shadow_comparisons_total"),
        "dropped": compare_service.metric_sum(url, "strangler_shadow_dropped_total"),
    }


def settle(url: str, longest: float = 15.0) -> dict[str, float]:
    """The compare service's counters once its queue has drained (still for 1 s)."""
    deadline = time.monotonic() + longest
    last = mirror_counters(url)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = mirror_counters(url)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= 1.0:
            break
    return last


@dataclass(frozen=True, slots=True)
class Placement:
    """``--pin-compare``: the compare service on CPU ``compare``, the fronts on ``others``.

    On this 2-core machine Envoy, the stand-ins, wrk and the compare service otherwise share
    both cores, and what the shadow scenario measures is the compare service's work taking
    CPU from Envoy, not the mirror; in production the compare service runs on a host of its
    own. The stand-ins started before stay where the scheduler puts them (they play the
    monolith and the candidate, on other hosts too).
    """

    compare: int
    others: frozenset[int]

    @classmethod
    def split(cls) -> Placement:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise BenchError(f"--pin-compare needs 2 CPUs or more; this process may use {cpus}")
        return cls(cpus[-1], frozenset(cpus[:-1]))

    def compare_argv(self, argv: Sequence[str]) -> list[str]:
        return ["taskset", "-c", str(self.compare), *argv]

    @contextlib.contextmanager
    def fronts(self) -> Iterator[None]:
        """What this process starts meanwhile (``serve``, Envoy, wrk) inherits ``others``."""
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self.others)
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)


def _settled_into(counters: dict[str, float], url: str) -> None:
    counters.update(settle(url))


def measure_shadow(
    run: Run,
    sup: Supervisor,
    script: Path,
    ports: dict[str, int],
    compare_url: str,
    cpus: Placement | None,
) -> None:
    paced_script = None
    if run.options.shadow_rate:
        paced_script = write_paced_script(sup.workdir, PACED_CONNECTIONS, run.options.shadow_rate)
    for target in SHADOW_TARGETS:
        with cpus.fronts() if cpus is not None else contextlib.nullcontext():
            run.results.append(
                _measure_shadow_target(run, sup, script, paced_script, ports, compare_url, target)
            )


def _measure_shadow_target(
    run: Run,
    sup: Supervisor,
    script: Path,
    paced_script: Path | None,
    ports: dict[str, int],
    compare_url: str,
    target: ShadowTarget,
) -> Result:
    store = sup.workdir / "evidence.db"
    routes = shadow_routes(target.mode, ports["shadow-legacy"], ports["candidate"], store)
    proc, url = start_serve(
        sup, f"shadow-{target.mode}", "envoy", routes, ["--compare-url", compare_url]
    )
    try:
        wait_http(proc, url + PATH, timeout=90)
        wait_idle(proc)
        before: dict[str, float] = {}
        # counted from after the warm-up, once its mirrored copies are compared
        warmed = functools.partial(_settled_into, before, compare_url)
        latency, throughput, cpu_us = measure(
            run.options,
            f"({target.key}) {target.label}",
            url + PATH,
            script,
            payload.BODY,
            warmed,
            proc,
        )
        paced = None
        if paced_script is not None:
            paced = run_wrk(
                url + PATH, Load("paced", PACED_CONNECTIONS), run.options.duration, paced_script
            )
            say(
                f"bench: ({target.key}) paced at {paced.rps:,.0f} rps: "
                f"p50 {paced.p50_ms:.3f} ms, p99 {paced.p99_ms:.3f} ms"
            )
        after = settle(compare_url)
    finally:
        sup.stop(proc, timeout=20)
    moved = {k: after[k] - before[k] for k in after}
    sent = latency.requests + throughput.requests + (paced.requests if paced else 0)
    moved["client_requests"] = sent
    return Result(target, latency, throughput, moved, cpu_us, paced)


def execute(options: Options) -> Run:
    run = Run(options, dt.datetime.now(dt.UTC), os.getloadavg())
    say(f"bench: load average at start {run.load_at_start[0]:.2f}")
    workdir = Path(tempfile.mkdtemp(prefix="strangler-bench-engines-"))
    try:
        with Supervisor(workdir) as sup:
            script = write_script(workdir)
            ports = {"legacy": free_port(), "service": free_port()}
            servers = standin_server(ports["legacy"]) + standin_server(ports["service"])
            standin = start_nginx(sup, "standin", workers=2, servers=servers)
            for port in ports.values():
                wait_http(standin, base_url(port) + PATH)
            compare_url = ""
            cpus: Placement | None = None
            if options.shadow:
                ports["shadow-legacy"], ports["candidate"] = free_port(), free_port()
                body = payload.BODY.decode()
                servers = standin_server(ports["shadow-legacy"], body) + standin_server(
                    ports["candidate"], body
                )
                shadow_standin = start_nginx(sup, "shadow-standin", workers=1, servers=servers)
                wait_http(shadow_standin, base_url(ports["candidate"]) + PATH)
                cpus = Placement.split() if options.pin_compare else None
                compare_url = start_compare(sup, ports, cpus)
            for number in range(1, options.rounds + 1):
                say(f"bench: round {number} of {options.rounds}")
                if options.fronts:
                    measure_fronts(run, sup, script, ports)
                if options.shadow:
                    measure_shadow(run, sup, script, ports, compare_url, cpus)
        for processes in options.compare_processes:
            say(f"bench: the compare service at {processes} process(es)")
            run.compare.append(
                compare_service.measure(
                    workdir, processes, options.duration, options.connections, warmup=options.warmup
                )
            )
    finally:
        if options.keep_workdir:
            say(f"bench: configs and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return run


def start_compare(sup: Supervisor, ports: dict[str, int], cpus: Placement | None) -> str:
    """The mirror's target: a compare service on the shadow routes.yaml (mode shadow); with
    ``cpus``, on its own CPU."""
    routes = sup.workdir / "compare-routes.yaml"
    routes.write_text(
        shadow_routes("shadow", ports["shadow-legacy"], ports["candidate"], sup.workdir / "ev.db")
    )
    port = free_port()
    argv = [venv_tool("strangler"), "compare-service", "--routes", str(routes), "--port", str(port)]
    proc = sup.start("compare", argv if cpus is None else cpus.compare_argv(argv))
    wait_http(proc, base_url(port) + "/healthz")
    compare_service.prime(base_url(port), PATH)  # its store opened before any measurement
    return base_url(port)


# -- report ------------------------------------------------------------------------------------


def medians(results: Sequence[Result]) -> list[Result]:
    by_key: dict[str, list[Result]] = {}
    for r in results:
        by_key.setdefault(r.scenario.key, []).append(r)
    found = []
    for items in by_key.values():
        cpu = [i.cpu_us for i in items]
        mirrored = None
        if items[0].mirrored is not None:
            mirrored = {
                k: float(sum(i.mirrored[k] for i in items if i.mirrored)) for k in items[0].mirrored
            }
        found.append(
            Result(
                items[0].scenario,
                Measurement.median([i.latency for i in items]),
                Measurement.median([i.throughput for i in items]),
                mirrored,
                None if None in cpu else statistics.median(c for c in cpu if c is not None),
                _median_paced([i.paced for i in items]),
            )
        )
    return found


def _median_paced(items: Sequence[Measurement | None]) -> Measurement | None:
    present = [m for m in items if m is not None]
    return Measurement.median(present) if present else None


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    value: float
    aim: str
    passed: bool | None  # None: stated, not an aim

    def line(self) -> str:
        mark = "" if self.passed is None else ("PASS " if self.passed else "FAIL ")
        return f"- {mark}{self.name}: {self.value:.2f}x ({self.aim})"


def checks(results: Sequence[Result]) -> list[Check]:
    by = {r.scenario.key: r for r in results}
    found: list[Check] = []
    hand, nginx = by.get("h"), by.get("n")
    for kind in ROUTE_KINDS:
        engine, python = by.get(f"e-{kind}"), by.get(f"p-{kind}")
        if engine is None:
            continue
        rps = engine.throughput.rps
        if hand is not None:
            ratio = rps / hand.throughput.rps
            aim = f"aim >= {MIN_OVER_HAND_WRITTEN}x"
            found.append(
                Check(
                    f"engine {kind} / hand-written Envoy rps",
                    ratio,
                    aim,
                    ratio >= MIN_OVER_HAND_WRITTEN,
                )
            )
        if python is not None:
            ratio = rps / python.throughput.rps
            aim = f"aim >= {MIN_OVER_PYTHON:g}x"
            found.append(
                Check(
                    f"engine {kind} / Python facade {kind} rps",
                    ratio,
                    aim,
                    ratio >= MIN_OVER_PYTHON,
                )
            )
        if nginx is not None:
            ratio = rps / nginx.throughput.rps
            found.append(Check(f"engine {kind} / nginx rps", ratio, "stated", None))
        found += cpu_checks(kind, engine, hand, python, nginx)
    off, on = by.get("s-off"), by.get("s-10")
    if off is not None and on is not None:
        found += shadow_checks(off, on)
    return found


def shadow_checks(off: Result, on: Result) -> list[Check]:
    """The shadow aim (client p99 within 10% of pass-through) is read at the fixed offered
    rate when one was measured: at saturation both p99s are the queue in front of a front
    whose CPU the compare service shares here, so that figure is stated beside it."""
    found: list[Check] = []
    paced = on.paced is not None and off.paced is not None
    if on.paced is not None and off.paced is not None:
        ratio = on.paced.p99_ms / off.paced.p99_ms
        found.append(
            Check(
                f"shadow {SHADOW_PERCENT}% / pass-through client p99 at a fixed "
                f"{off.paced.rps:,.0f} rps over {PACED_CONNECTIONS} connections",
                ratio,
                f"aim <= {MAX_SHADOW_P99:.2f}x",
                ratio <= MAX_SHADOW_P99,
            )
        )
    ratio = on.throughput.p99_ms / off.throughput.p99_ms
    found.append(
        Check(
            f"shadow {SHADOW_PERCENT}% / pass-through client p99 at "
            f"{off.throughput.connections} connections (saturated)",
            ratio,
            "stated" if paced else f"aim <= {MAX_SHADOW_P99:.2f}x",
            None if paced else ratio <= MAX_SHADOW_P99,
        )
    )
    ratio = on.latency.p99_ms / off.latency.p99_ms
    found.append(
        Check(
            f"shadow {SHADOW_PERCENT}% / pass-through client p99 at 1 connection",
            ratio,
            "stated",
            None,
        )
    )
    ratio = on.throughput.rps / off.throughput.rps
    found.append(Check(f"shadow {SHADOW_PERCENT}% / pass-through rps", ratio, "stated", None))
    return found


def cpu_checks(
    kind: str, engine: Result, hand: Result | None, python: Result | None, nginx: Result | None
) -> list[Check]:
    """The same aims read as CPU cost per request (reference / engine: above 1 the engine
    costs less): what the machine's load moves least."""
    if engine.cpu_us is None:
        return []
    found = []
    aims = (
        ("hand-written Envoy", hand, MIN_OVER_HAND_WRITTEN),
        (f"Python facade {kind}", python, MIN_OVER_PYTHON),
        ("nginx", nginx, None),
    )
    for name, other, least in aims:
        if other is None or other.cpu_us is None:
            continue
        ratio = other.cpu_us / engine.cpu_us
        found.append(
            Check(
                f"engine {kind} / {name}, by CPU per request",
                ratio,
                "stated" if least is None else f"aim >= {least:g}x",
                None if least is None else ratio >= least,
            )
        )
    return found


def mirror_lines(results: Sequence[Result]) -> list[str]:
    lines = []
    for r in results:
        if r.mirrored is None or not r.mirrored.get("client_requests"):
            continue
        sent = r.mirrored["client_requests"]
        lines.append(
            f"- ({r.scenario.key}): {sent:,.0f} client requests in the measured phases "
            f"(all rounds); the compare service compared {r.mirrored['compared']:,.0f} "
            f"({r.mirrored['compared'] / sent:.1%}) and dropped {r.mirrored['dropped']:,.0f}"
        )
    return lines


def publish(run: Run) -> int:
    results = medians(run.results)
    found = checks(results)
    env = environment()
    load_end = env["loadavg_at_end"]
    document = {
        "benchmark": "engines",
        "date": run.started.isoformat(timespec="seconds"),
        "settings": {
            "duration_s": run.options.duration,
            "warmup_s": run.options.warmup,
            "rounds": run.options.rounds,
            "wrk_threads": 1,
            "connections": [1, run.options.connections],
        },
        "environment": {**env, "loadavg_at_start": [round(x, 2) for x in run.load_at_start]},
        "results": [r.as_dict() for r in results],
        "rounds": [r.as_dict() for r in run.results] if run.options.rounds > 1 else None,
        "checks": [
            {"name": c.name, "ratio": round(c.value, 4), "aim": c.aim, "passed": c.passed}
            for c in found
        ],
        "compare_service": [c.as_dict() for c in run.compare],
    }
    run.options.out.parent.mkdir(parents=True, exist_ok=True)
    run.options.out.write_text(json.dumps(document, indent=2) + "\n")
    o = run.options
    lines = [
        f"Measured {run.started:%Y-%m-%d %H:%M} UTC, commit {env['commit']}: wrk -t1, "
        f"{o.duration}s per load shape after a {o.warmup}s warm-up"
        + (f", medians of {o.rounds} interleaved rounds" if o.rounds > 1 else "")
        + f"; latencies in ms; {env['cpus']} CPUs, load average "
        f"{run.load_at_start[0]:.2f} at the start, {load_end[0]:.2f} at the end.",
        "",
        results_table(results, o.connections),
        "",
        "Ratios (every front with one worker thread; rps at the same connections, CPU per "
        "request as reference / engine):",
        "",
        *(c.line() for c in found),
        *mirror_lines(results),
        *paced_lines(results, o),
    ]
    if run.compare:
        lines += ["", "Compare service:", "", compare_service.table(run.compare)]
    added = _latency_added(results)
    if added:
        lines += [
            "",
            "Latency added at 1 connection against direct access (p50, p99), and the front's "
            f"CPU time per request at {o.connections} connections (its process tree):",
            "",
        ]
        header = ["front", "+p50 @1", "+p99 @1", f"CPU µs/request @{o.connections}"]
        lines.append(markdown_table(header, added))
    print("\n".join(lines))
    say(f"bench: JSON written to {o.out}")
    failed = any(c.passed is False for c in found)
    return EXIT_REFUSED if o.check and failed else EXIT_OK


def paced_lines(results: Sequence[Result], options: Options) -> list[str]:
    rows = [
        [
            f"({r.scenario.key}) {r.scenario.label}",
            f"{r.paced.rps:,.0f}",
            ms(r.paced.p50_ms),
            ms(r.paced.p99_ms),
            ms(r.paced.max_ms),
            str(r.paced.errors),
        ]
        for r in results
        if r.paced is not None
    ]
    if not rows:
        return []
    where = (
        "the compare service on a CPU of its own, Envoy and wrk on the others"
        if options.pin_compare
        else "every process on any CPU"
    )
    header = ["scenario", "rps reached", "p50", "p99", "max", "errors"]
    return [
        "",
        f"Shadow at a fixed offered rate ({options.shadow_rate:,.0f} requests/s over "
        f"{PACED_CONNECTIONS} paced connections; {where}):",
        "",
        markdown_table(header, rows),
    ]


def _latency_added(results: Sequence[Result]) -> list[list[str]]:
    direct = next((r for r in results if r.scenario.key == "a"), None)
    if direct is None:
        return []
    return [
        [
            f"({r.scenario.key}) {r.scenario.label}",
            ms(r.latency.p50_ms - direct.latency.p50_ms),
            ms(r.latency.p99_ms - direct.latency.p99_ms),
            "-" if r.cpu_us is None else f"{r.cpu_us:.1f}",
        ]
        for r in results
        if r.scenario.key != "a"
    ]
