"""``scripts/bench --suite sync``: what capture costs the monolith, and how fast the relay carries.

Three measurements, on a private SQLite copy of the demo shop (issue 15, design §12):

- **capture overhead** (c1-c4): one product's price changed in its own transaction,
  ``--writes`` times per run, four ways: raw SQL (``sqlite3``: ``BEGIN IMMEDIATE; UPDATE
  catalog_product ...; COMMIT``, the floor) and the Django ORM (``product.save()`` inside
  ``transaction.atomic()``, the monolith's real write path), each with the capture triggers of
  ``product-catalog`` installed and removed. The four runs are interleaved in every round (the
  order alternates), ``--rounds`` rounds (5), and each figure is the median of its rounds. The
  issue's bar (a captured write costs at most 1.3x an uncaptured one) is judged on the ORM path;
  the raw path is reported as the floor. The monolith's own settings apply to both (WAL,
  ``synchronous=NORMAL``), and every write changes a captured column, so each captured write
  makes an outbox row.
- **applied changes per second** (a1, a2): ``--products`` products seeded and copied
  (``strangler data copy``), capture installed, then ``--updates`` price changes in transactions
  of 10 with no relay running; ``strangler data sync product-catalog --once`` drains them, once
  per batch size in ``--batch-sizes``. The drain time is the command's wall time minus that of an
  ``--once`` run with nothing pending (interpreter start-up, imports, opening both databases).
  Entries/s counts outbox entries marked applied; a key changed many times is written once (state
  transfer), so fewer rows are written than entries drained. ``data verify`` must be clean after.

- **lag under load** (--only lag): ``data sync`` following an open-loop writer of ``--rate``
  single-row transactions a second for ``--duration`` s; p50/p99/max of ``applied_at -
  captured_at`` of every entry. Twice: the relay alone, then with the monolith (gunicorn), the
  catalog service and a facade serving the catalog in shadow mode, ``--reads`` GETs a second
  of random products through the facade meanwhile (``--reads 0``: the first run only).

Results: markdown on stdout, JSON in ``bench-results/sync.json`` with the machine's load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, create_engine, text

from bench.cli import environment, run_suite, say
from bench.procs import LOOPBACK, BenchError, Supervisor, free_port, http_get, wait_http
from bench.report import markdown_table
from bench.shadow import read_counters
from bench.targets import ROOT, base_url, monolith_missing, start_monolith, venv_tool
from strangler_sync import Capture

EXIT_OK, EXIT_FAILURE, EXIT_REFUSED = 0, 1, 3
CAPABILITY = "product-catalog"
CAPTURE_PLUGIN = "legacy_monolith.data:product_capture"
OVERHEAD_BAR = 1.3  # the issue's: a captured write costs at most 1.3x an uncaptured one
TRANSACTION = 10  # updates per transaction in the applied/s workload (design §12.1)
PRICE_CENTS = 1000
NOWHERE = "http://127.0.0.1:9"  # routes.yaml's URLs when no facade serves it


@dataclass(frozen=True, slots=True)
class Options:
    rounds: int
    writes: int
    products: int
    updates: int
    batch_sizes: tuple[int, ...]
    capture: bool
    relay: bool
    lag: bool
    rate: float
    duration: float
    reads: float
    postgres: bool
    payload: Literal["row", "key"]
    check: bool
    out: Path
    keep_workdir: bool


@dataclass(frozen=True, slots=True)
class Overhead:
    """One write path, captured and not: median microseconds per write over the rounds."""

    path: str  # "raw SQL" | "Django ORM"
    off_us: float
    on_us: float
    rounds_off_us: tuple[float, ...]
    rounds_on_us: tuple[float, ...]

    @property
    def ratio(self) -> float:
        return self.on_us / self.off_us if self.off_us else 0.0


@dataclass(frozen=True, slots=True)
class Drain:
    """One ``data sync --once`` drain of a backlog."""

    databases: str  # "SQLite -> SQLite", "PostgreSQL -> PostgreSQL"
    batch_size: int
    entries: int  # outbox entries marked applied by the drain
    keys: int  # distinct products changed by the backlog (each written about once: state transfer)
    wall_s: float
    startup_s: float  # an --once run with nothing pending
    pending_after: int
    verify_exit: int

    @property
    def drain_s(self) -> float:
        return max(self.wall_s - self.startup_s, 1e-6)

    @property
    def per_second(self) -> float:
        return self.entries / self.drain_s


@dataclass(frozen=True, slots=True)
class Lag:
    """How long changes waited between their capture and their apply, with the relay following
    an open-loop writer (``applied_at - captured_at`` of each outbox entry)."""

    rate: float  # writes/s asked
    achieved: float  # writes/s the writer managed
    writes: int
    applied: int
    p50_s: float
    p99_s: float
    max_s: float
    facade: bool = False  # the monolith, the catalog and a facade shadowing it ran too
    reads: int = 0  # GETs sent through the facade meanwhile
    read_failures: int = 0  # of those, answers other than 200
    shadowed: int = 0  # shadow comparisons the facade made meanwhile


@dataclass(slots=True)
class Run:
    options: Options
    started: dt.datetime
    overhead: list[Overhead] = field(default_factory=list)
    drains: list[Drain] = field(default_factory=list)
    lags: list[Lag] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    loadavg_at_start: tuple[float, float, float] = (0.0, 0.0, 0.0)


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench --suite sync",
        description="The data sync: capture overhead and applied changes per second.",
    )
    parser.add_argument("--suite", choices=["sync"], default="sync", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--writes", type=int, default=3000, help="writes per run (3000)")
    parser.add_argument("--products", type=int, default=20_000, help="products seeded (20000)")
    parser.add_argument("--updates", type=int, default=50_000, help="changes drained (50000)")
    parser.add_argument(
        "--batch-sizes", default="500,2000", help="relay batch sizes, one drain each (500,2000)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: small numbers")
    parser.add_argument("--only", choices=["capture", "relay", "lag"], help="one measurement")
    parser.add_argument("--rate", type=float, default=200.0, help="lag: writes/s (200)")
    parser.add_argument("--duration", type=float, default=30.0, help="lag: seconds (30)")
    parser.add_argument(
        "--reads",
        type=float,
        default=100.0,
        help="lag: GETs/s through a facade shadowing the catalog, in a second run (100; 0: none)",
    )
    parser.add_argument(
        "--postgres", action="store_true", help="applied/s on PostgreSQL too (initdb, pg_ctl)"
    )
    parser.add_argument(
        "--payload",
        choices=["row", "key"],
        default="row",
        help="capture overhead with the plugin's spec as it is (row) or with payload: key",
    )
    parser.add_argument("--check", action="store_true", help="exit 3 if a bar is missed")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "sync.json", help="JSON result"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep files and logs")
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(size) for size in args.batch_sizes.split(","))
    except ValueError:
        parser.error(f"--batch-sizes: expected numbers such as 500,2000, got {args.batch_sizes!r}")
    return Options(
        rounds=max(1, 3 if args.quick else args.rounds),
        writes=300 if args.quick else args.writes,
        products=2000 if args.quick else args.products,
        updates=5000 if args.quick else args.updates,
        batch_sizes=sizes,
        capture=args.only in (None, "capture"),
        relay=args.only in (None, "relay"),
        lag=args.only in (None, "lag"),
        rate=args.rate,
        duration=10.0 if args.quick else args.duration,
        reads=args.reads,
        postgres=args.postgres,
        payload=args.payload,
        check=args.check,
        out=args.out,
        keep_workdir=args.keep_workdir,
    )


def main(argv: Sequence[str]) -> None:
    run_suite(argv, parse_args, execute, publish)


def execute(options: Options) -> Run:
    run = Run(options, dt.datetime.now(dt.UTC))
    load = os.getloadavg()
    run.loadavg_at_start = (round(load[0], 2), round(load[1], 2), round(load[2], 2))
    if reason := monolith_missing():
        run.skipped["all"] = reason
        return run
    workdir = Path(tempfile.mkdtemp(prefix="strangler-bench-sync-"))
    try:
        shop = Shop(workdir)
        say(f"bench: seeding {options.products} products in a private database")
        shop.prepare(options.products)
        if options.capture:
            _measure(run, "capture", lambda: run.overhead.extend(measure_overhead(options, shop)))
        if options.relay:
            _measure(run, "relay", lambda: run.drains.extend(measure_relay(options, shop)))
        if options.lag:
            for facade in (False, True) if options.reads > 0 else (False,):
                what = "lag, facade shadowing" if facade else "lag"
                _measure(run, what, partial(_lag, run, options, shop, facade=facade))
        if options.relay and options.postgres:
            _measure(
                run, "relay on PostgreSQL", lambda: run.drains.extend(on_postgres(options, workdir))
            )
    finally:
        if options.keep_workdir:
            say(f"bench: files and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return run


def _lag(run: Run, options: Options, shop: Shop, *, facade: bool) -> None:
    run.lags.append(measure_lag(options, shop, facade=facade))


def _measure(run: Run, what: str, measurement: Callable[[], None]) -> None:
    """Run one measurement; one that the checkout cannot do yet is skipped with its reason."""
    try:
        measurement()
    except NotImplementedError as exc:
        run.skipped[what] = f"not implemented on this commit: {exc or 'strangler_sync'}"
        say(f"bench: SKIPPING {what}: {run.skipped[what]}")
    except BenchError as exc:
        run.skipped[what] = str(exc)
        say(f"bench: SKIPPING {what}: {exc}")


class Shop:
    """The demo monolith's database in a work directory, with a routes.yaml syncing its catalog:
    SQLite files by default, or two databases of a PostgreSQL cluster (``postgres``: the
    monolith's and the catalog's SQLAlchemy URLs)."""

    def __init__(self, workdir: Path, *, postgres: tuple[str, str] | None = None) -> None:
        self.workdir = workdir
        self.db = workdir / "legacy.sqlite3"
        self.url, self.catalog_url = postgres or (
            f"sqlite:///{self.db}",
            f"sqlite:///{workdir / 'catalog.db'}",
        )
        self.databases = "PostgreSQL -> PostgreSQL" if postgres else "SQLite -> SQLite"
        self.env = {
            **os.environ,
            "STRANGLER_LEGACY_DB": str(self.db),
            "STRANGLER_LEGACY_MEDIA": str(workdir / "legacy-media"),
            "STRANGLER_LEGACY_LOG_LEVEL": "warning",
            "STRANGLER_CATALOG_DB": self.catalog_url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        if postgres:
            self.env["STRANGLER_LEGACY_DATABASE_URL"] = self.url

    def prepare(self, products: int) -> None:
        self.manage("migrate", "--noinput", "-v0")
        self.manage("seed", "--products", str(products), "--customers", "0", "--orders", "0")

    def manage(self, *argv: str) -> None:
        self._check([sys.executable, "-m", "legacy_monolith", *argv], f"manage {argv[0]}")

    def routes(self, *, batch_size: int, legacy: str = NOWHERE, catalog: str = NOWHERE) -> Path:
        """routes.yaml: the catalog in shadow mode, its data synced (the URLs matter only
        to a facade serving it)."""
        path = self.workdir / "routes.yaml"
        path.write_text(
            "version: 1\n"
            f'legacy: {{url: "{legacy}"}}\n'
            f'services: {{catalog: {{url: "{catalog}"}}}}\n'
            "capabilities:\n"
            f"  {CAPABILITY}:\n"
            '    match: [{methods: [GET], path: "/api/products/{sku}"}]\n'
            "    service: catalog\n"
            "    mode: shadow\n"
            "    data:\n"
            "      source: legacy_monolith.data:products\n"
            "      translate: acl.catalog_rows:product_row_from_legacy\n"
            "      target: extracted.catalog.data:products\n"
            f"      batch_size: {batch_size}\n"
            f"      sync: {{capture: {CAPTURE_PLUGIN}, key_param: sku}}\n"
            f'store: {{url: "sqlite:///{self.workdir / "store.db"}"}}\n'
        )
        return path

    def strangler(self, *argv: str, routes: Path, ok: tuple[int, ...] = (0,)) -> int:
        command = [venv_tool("strangler"), *argv, "--routes", str(routes)]
        return self._check(command, "strangler " + " ".join(argv), ok=ok)

    def _check(self, argv: list[str], what: str, *, ok: tuple[int, ...] = (0,)) -> int:
        done = subprocess.run(argv, cwd=self.workdir, env=self.env, capture_output=True, text=True)
        if done.returncode not in ok:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-12:])
            raise BenchError(f"`{what}` exited {done.returncode}:\n{tail}")
        return done.returncode

    def connect(self) -> sqlite3.Connection:
        """A connection set up as the monolith's own (settings.py): WAL, synchronous=NORMAL."""
        conn = sqlite3.connect(self.db, timeout=20, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        engine = create_engine(self.url)
        try:
            yield engine
        finally:
            engine.dispose()

    def skus(self, count: int) -> list[str]:
        with self.engine() as engine, engine.connect() as conn:
            rows = conn.execute(
                text("SELECT sku FROM catalog_product ORDER BY sku LIMIT :n"), {"n": count}
            )
            return [str(sku) for (sku,) in rows]


# --- capture overhead ------------------------------------------------------------------------


def capture_of(shop: Shop) -> Capture:
    """The product-catalog capture (a ``strangler_sync.Capture``) from the monolith's plugin."""
    os.environ["STRANGLER_LEGACY_DB"] = str(shop.db)  # read by the plugin and Django's settings
    module_name, _, attr = CAPTURE_PLUGIN.partition(":")
    try:
        plugin = getattr(importlib.import_module(module_name), attr)
    except AttributeError:
        raise BenchError(f"{CAPTURE_PLUGIN} is not on this commit yet") from None
    found = plugin() if callable(plugin) else plugin
    if not isinstance(found, Capture):
        raise BenchError(f"{CAPTURE_PLUGIN} gave {type(found).__name__}, not a Capture")
    return found


def set_capture(capture: Capture, *, on: bool) -> None:
    """Install or remove the triggers (the outbox and its rows stay), as `data capture` does."""
    from strangler_sync import SqlAlchemyTx, install, remove

    engine = create_engine(capture.url)
    try:
        with engine.begin() as conn:
            tx = SqlAlchemyTx(conn)
            if on:
                install(tx, capture.spec)
            else:
                remove(tx, capture.spec)
    finally:
        engine.dispose()


def prices() -> Iterator[int]:
    """Alternating prices: every write changes a captured column, so every captured one counts."""
    n = 0
    while True:
        n += 1
        yield PRICE_CENTS + n % 2


def raw_writes(shop: Shop, skus: Sequence[str], writes: int) -> float:
    """Microseconds per single-row transaction through bare sqlite3."""
    price = prices()
    with closing(shop.connect()) as conn:
        started = time.perf_counter()
        for n in range(writes):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "UPDATE catalog_product SET unit_price_cents = ? WHERE sku = ?",
                (next(price), skus[n % len(skus)]),
            )
            conn.execute("COMMIT")
        return (time.perf_counter() - started) / writes * 1e6


def orm_writes(skus: Sequence[str], writes: int) -> float:
    """Microseconds per ``product.save()`` inside ``transaction.atomic()``."""
    from django.db import transaction

    from legacy_monolith.catalog.models import Product

    products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    ordered = [products[sku] for sku in skus]
    price = prices()
    started = time.perf_counter()
    for n in range(writes):
        product = ordered[n % len(ordered)]
        with transaction.atomic():
            product.unit_price_cents = next(price)
            product.save()
    return (time.perf_counter() - started) / writes * 1e6


def measure_overhead(options: Options, shop: Shop) -> list[Overhead]:
    capture = capture_of(shop)
    if options.payload != capture.spec.payload:  # the fallback the design names: key only
        capture = replace(capture, spec=replace(capture.spec, payload=options.payload))
    from legacy_monolith.data import setup_django

    setup_django()
    skus = shop.skus(200)
    paths: dict[str, Callable[[], float]] = {
        "raw SQL": lambda: raw_writes(shop, skus, options.writes),
        "Django ORM": lambda: orm_writes(skus, options.writes),
    }
    timings: dict[tuple[str, bool], list[float]] = {
        (p, on): [] for p in paths for on in (False, True)
    }
    for warm in paths.values():  # page cache, statement caches, Django's connection
        warm()
    for number in range(options.rounds):
        # alternate which state and which path go first: drift in the machine's load then
        # spreads over all four instead of landing on one
        states = (False, True) if number % 2 == 0 else (True, False)
        for on in states:
            set_capture(capture, on=on)
            order = list(paths) if (number // 2) % 2 == 0 else list(reversed(paths))
            for name in order:
                timings[(name, on)].append(paths[name]())
        say(
            f"bench: capture round {number + 1}/{options.rounds}: "
            + ", ".join(
                f"{name} {timings[(name, False)][-1]:.0f}/{timings[(name, True)][-1]:.0f} us"
                for name in paths
            )
        )
    set_capture(capture, on=False)
    return [
        Overhead(
            path=name,
            off_us=statistics.median(timings[(name, False)]),
            on_us=statistics.median(timings[(name, True)]),
            rounds_off_us=tuple(round(t, 1) for t in timings[(name, False)]),
            rounds_on_us=tuple(round(t, 1) for t in timings[(name, True)]),
        )
        for name in paths
    ]


# --- applied changes per second --------------------------------------------------------------


def write_backlog(shop: Shop, updates: int, *, seed: int) -> int:
    """``updates`` price changes on random products, in transactions of TRANSACTION; returns
    how many distinct products they changed."""
    skus = shop.skus(10**9)
    rng = random.Random(seed)
    changed: set[str] = set()
    update = text(
        "UPDATE catalog_product SET unit_price_cents = unit_price_cents + 1 WHERE sku = :sku"
    )
    with shop.engine() as engine:
        for start in range(0, updates, TRANSACTION):
            batch = [rng.choice(skus) for _ in range(min(TRANSACTION, updates - start))]
            changed.update(batch)
            with engine.begin() as conn:
                conn.execute(update, [{"sku": sku} for sku in batch])
    return len(changed)


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    applied: int
    pending: int


def outbox_counts(shop: Shop) -> OutboxCounts:
    with shop.engine() as engine, engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(applied_at), count(*) - count(applied_at) - count(parked_at)"
                " FROM strangler_outbox WHERE aggregatetype = :cap"
            ),
            {"cap": CAPABILITY},
        ).one()
    return OutboxCounts(int(row[0]), int(row[1]))


@contextmanager
def timed() -> Iterator[list[float]]:
    elapsed: list[float] = []
    started = time.perf_counter()
    yield elapsed
    elapsed.append(time.perf_counter() - started)


def measure_relay(options: Options, shop: Shop) -> list[Drain]:
    routes = shop.routes(batch_size=options.batch_sizes[0])
    say("bench: strangler data capture, data copy")
    shop.strangler("data", "capture", CAPABILITY, routes=routes)
    shop.strangler("data", "copy", CAPABILITY, routes=routes)
    drains = []
    for number, size in enumerate(options.batch_sizes):
        routes = shop.routes(batch_size=size)
        with timed() as idle:  # nothing pending: start-up, imports, opening both databases
            shop.strangler("data", "sync", CAPABILITY, "--once", routes=routes)
        before = outbox_counts(shop)
        if before.pending != 0:
            raise BenchError(f"{before.pending} changes still pending after a drain")
        say(f"bench: {options.updates} changes in the monolith (transactions of {TRANSACTION})")
        keys = write_backlog(shop, options.updates, seed=number)
        with timed() as wall:
            shop.strangler("data", "sync", CAPABILITY, "--once", routes=routes)
        after = outbox_counts(shop)
        verify = shop.strangler("data", "verify", CAPABILITY, routes=routes, ok=(0, 3))
        drain = Drain(
            databases=shop.databases,
            batch_size=size,
            entries=after.applied - before.applied,
            keys=keys,
            wall_s=round(wall[0], 3),
            startup_s=round(idle[0], 3),
            pending_after=after.pending,
            verify_exit=verify,
        )
        say(
            f"bench: {shop.databases}, batch {size}: {drain.entries} entries in "
            f"{drain.drain_s:.2f} s ({drain.per_second:,.0f}/s), verify exit {verify}"
        )
        drains.append(drain)
    return drains


def measure_lag(options: Options, shop: Shop, *, facade: bool) -> Lag:
    """The relay following (``data sync`` without ``--once``) while ``--rate`` single-row
    transactions a second change random products for ``--duration`` seconds (SQLite). With
    ``facade``: the monolith (gunicorn), the catalog service and the facade run too, the
    catalog in shadow mode, and ``--reads`` GETs a second go through the facade meanwhile
    (each read from both databases: the monolith's and the catalog's the relay writes)."""
    routes = shop.routes(batch_size=options.batch_sizes[0])
    shop.strangler("data", "capture", CAPABILITY, routes=routes)
    shop.strangler("data", "copy", CAPABILITY, routes=routes)
    with Supervisor(shop.workdir) as supervisor:
        front = start_shadowing(supervisor, shop, options) if facade else None
        routes = shop.workdir / "routes.yaml"
        log = (shop.workdir / "relay.log").open("ab")
        argv = [venv_tool("strangler"), "data", "sync", CAPABILITY, "--routes", str(routes)]
        relay = subprocess.Popen(argv, cwd=shop.workdir, env=shop.env, stdout=log, stderr=log)
        reader = Reader(front, shop.skus(10**9), options.reads) if front else None
        try:
            write_backlog(shop, 1, seed=7)  # the relay is following once this one is applied
            drained(shop, timeout=60)
            first = newest_seq(shop)
            shadowed = shadow_comparisons(front) if front else 0
            reads = f"{options.reads:g} GETs/s through the facade" if front else "no facade"
            say(
                f"bench: lag: {options.rate:g} writes/s for {options.duration:g} s, relay "
                f"following, {reads}"
            )
            if reader:
                reader.start()
            writes, achieved = open_loop(shop, rate=options.rate, duration=options.duration)
            if reader:
                reader.finish()
            drained(shop, timeout=120)
            if front:
                shadowed = shadow_comparisons(front) - shadowed
        finally:
            if reader and reader.is_alive():
                reader.finish()
            relay.terminate()
            try:
                relay.wait(timeout=30)
            except subprocess.TimeoutExpired:
                relay.kill()
                relay.wait()
            log.close()
    delays = sorted(delays_after(shop, first))
    if len(delays) < 2:
        raise BenchError(f"only {len(delays)} changes were applied")
    lag = Lag(
        rate=options.rate,
        achieved=round(achieved, 1),
        writes=writes,
        applied=len(delays),
        p50_s=round(statistics.median(delays), 3),
        p99_s=round(statistics.quantiles(delays, n=100)[98], 3),
        max_s=round(delays[-1], 3),
        facade=front is not None,
        reads=reader.done if reader else 0,
        read_failures=reader.failed if reader else 0,
        shadowed=int(shadowed),
    )
    say(
        f"bench: lag p50 {lag.p50_s} s, p99 {lag.p99_s} s, max {lag.max_s} s"
        + (
            f"; {lag.reads} GETs ({lag.read_failures} failed), {lag.shadowed} shadowed"
            if front
            else ""
        )
    )
    return lag


def start_shadowing(supervisor: Supervisor, shop: Shop, options: Options) -> str:
    """The monolith (gunicorn), the catalog service and a facade with the catalog in shadow
    mode, all on the shop's databases; routes.yaml rewritten with their URLs. Returns the
    facade's base URL."""
    legacy = base_url(start_monolith(supervisor, shop.env))
    port = free_port()
    service = supervisor.start(
        "catalog", [sys.executable, "-m", "extracted.catalog", "--port", str(port)],
        env=shop.env, cwd=ROOT,
    )  # fmt: skip
    wait_http(service, base_url(port) + "/healthz", timeout=60)
    routes = shop.routes(batch_size=options.batch_sizes[0], legacy=legacy, catalog=base_url(port))
    port = free_port()
    argv = [
        venv_tool("strangler"), "serve", "--routes", str(routes),
        "--host", LOOPBACK, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    facade = supervisor.start("facade", argv, env=shop.env, cwd=shop.workdir)
    wait_http(facade, base_url(port) + "/healthz", timeout=60)
    return base_url(port)


def shadow_comparisons(front: str) -> float:
    """Shadow comparisons the facade made for the catalog so far (any outcome)."""
    return sum(
        value
        for (metric, capability, _), value in read_counters(front).items()
        if metric == "strangler_shadow_comparisons_total" and capability == CAPABILITY
    )


class Reader(threading.Thread):
    """GETs of random products through the facade, ``rate`` a second, open loop (a late one
    is sent at once), until ``finish``."""

    def __init__(self, front: str, skus: Sequence[str], rate: float) -> None:
        super().__init__(name="bench-reader", daemon=True)
        self.front = front
        self.skus = skus
        self.rate = rate
        self.done = 0
        self.failed = 0
        self._halt = threading.Event()

    def run(self) -> None:
        rng = random.Random(13)
        started = time.monotonic()
        while not self._halt.wait(max(0.0, started + self.done / self.rate - time.monotonic())):
            try:
                status, _ = http_get(f"{self.front}/api/products/{rng.choice(self.skus)}", 5.0)
            except OSError:
                status = 0
            self.done += 1
            self.failed += status != 200

    def finish(self) -> None:
        self._halt.set()
        self.join(timeout=30)


def open_loop(shop: Shop, *, rate: float, duration: float) -> tuple[int, float]:
    """One single-row transaction every 1/rate s, on schedule whatever the answers' speed (a
    late one is sent at once); returns the writes and the rate achieved."""
    skus = shop.skus(10**9)
    rng = random.Random(11)
    update = text(
        "UPDATE catalog_product SET unit_price_cents = unit_price_cents + 1 WHERE sku = :sku"
    )
    count = int(rate * duration)
    with shop.engine() as engine:
        started = time.monotonic()
        for n in range(count):
            pause = started + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with engine.begin() as conn:
                conn.execute(update, {"sku": rng.choice(skus)})
        elapsed = time.monotonic() - started
    return count, count / elapsed


def drained(shop: Shop, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (pending := outbox_counts(shop).pending) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pending:
        raise BenchError(f"{pending} changes still pending after {timeout:g} s")


def newest_seq(shop: Shop) -> int:
    with shop.engine() as engine, engine.connect() as conn:
        return int(
            conn.execute(text("SELECT coalesce(max(seq), 0) FROM strangler_outbox")).one()[0]
        )


def delays_after(shop: Shop, first: int) -> list[float]:
    """``applied_at - captured_at`` in seconds of the entries after ``first`` (SQLite stores
    both as epoch seconds)."""
    with shop.engine() as engine, engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT applied_at - captured_at FROM strangler_outbox WHERE seq > :first"
                " AND aggregatetype = :cap AND applied_at IS NOT NULL"
            ),
            {"first": first, "cap": CAPABILITY},
        )
        return [float(delay) for (delay,) in rows]


def on_postgres(options: Options, workdir: Path) -> list[Drain]:
    """The applied/s drains with the monolith and the catalog as two databases of a throwaway
    PostgreSQL cluster (the test suite's: fsync and synchronous_commit off)."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        raise BenchError("initdb/pg_ctl not on PATH")
    from tests.support.postgres import running  # initdb + pg_ctl in a temp dir, as the tests do

    with running(database="shop") as server:
        shop = Shop(workdir / "pg", postgres=(server.url, server.create_database("catalog")))
        shop.workdir.mkdir()
        say(f"bench: seeding {options.products} products in PostgreSQL on :{server.port}")
        shop.prepare(options.products)
        return measure_relay(options, shop)


# --- publishing ------------------------------------------------------------------------------


def publish(run: Run) -> int:
    o = run.options
    env = environment()
    lines = [
        f"## data sync, {run.started:%Y-%m-%d %H:%M} UTC, commit {env['commit']}, "
        f"{env['cpus']} CPUs, load average {run.loadavg_at_start[0]} at start, "
        f"{env['loadavg_at_end'][0]} at end\n",
    ]
    if run.overhead:
        lines.append(
            f"Capture overhead (payload: {o.payload}): {o.writes} single-row transactions per "
            f"run, medians of {o.rounds} interleaved rounds, microseconds per write:\n"
        )
        rows = [
            [
                f"({n}) {r.path}",
                f"{r.off_us:.0f}",
                f"{r.on_us:.0f}",
                f"{r.ratio:.2f}x",
                verdict(r) if r.path == "Django ORM" else "(floor)",
            ]
            for n, r in enumerate(run.overhead, start=1)
        ]
        header = ["write", "uncaptured us", "captured us", "ratio", f"bar {OVERHEAD_BAR}x"]
        lines += [markdown_table(header, rows), ""]
    if run.drains:
        lines.append(
            f"Applied changes: {o.products} products, {o.updates} changes in transactions of "
            f"{TRANSACTION}, one `data sync --once` drain per batch size:\n"
        )
        rows = [
            [
                d.databases,
                str(d.batch_size),
                str(d.entries),
                str(d.keys),
                f"{d.wall_s:.1f}",
                f"{d.startup_s:.1f}",
                f"{d.per_second:,.0f}",
                "equal" if d.verify_exit == 0 else f"exit {d.verify_exit}",
            ]
            for d in run.drains
        ]
        header = [
            "databases",
            "batch",
            "entries",
            "keys",
            "wall s",
            "start-up s",
            "entries/s",
            "verify",
        ]
        lines += [markdown_table(header, rows), ""]
    if run.lags:
        lines.append(
            f"Lag: the relay following {o.rate:g} single-row writes a second for "
            f"{o.duration:g} s; seconds from capture to apply:\n"
        )
        rows = [
            [
                (
                    f"facade shadowing, {g.reads} GETs, {g.shadowed} shadowed"
                    if g.facade
                    else "relay"
                )
                + (f", {g.read_failures} GETs failed" if g.read_failures else ""),
                f"{g.achieved:g}",
                str(g.applied),
                f"{g.p50_s:.3f}",
                f"{g.p99_s:.3f}",
                f"{g.max_s:.3f}",
            ]
            for g in run.lags
        ]
        header = ["running", "writes/s achieved", "applied", "p50 s", "p99 s", "max s"]
        lines += [markdown_table(header, rows), ""]
    for what, reason in run.skipped.items():
        lines.append(f"- skipped ({what}): {reason}")
    print("\n".join(lines))
    document = {
        "suite": "sync",
        "started": run.started.isoformat(timespec="seconds"),
        "environment": {**env, "loadavg_at_start": list(run.loadavg_at_start)},
        "options": {**asdict(o), "out": str(o.out)},
        "overhead": [{**asdict(r), "ratio": round(r.ratio, 3)} for r in run.overhead],
        "drains": [
            {**asdict(d), "drain_s": round(d.drain_s, 3), "per_second": round(d.per_second)}
            for d in run.drains
        ],
        "lags": [asdict(g) for g in run.lags],
        "skipped": run.skipped,
    }
    o.out.parent.mkdir(parents=True, exist_ok=True)
    o.out.write_text(json.dumps(document, indent=2) + "\n")
    say(f"bench: wrote {o.out}")
    missed = [r for r in run.overhead if r.path == "Django ORM" and r.ratio > OVERHEAD_BAR]
    wrong = [d for d in run.drains if d.verify_exit != 0 or d.pending_after]
    if wrong:
        say("bench: a drain left rows pending or sides different (see the JSON)")
        return EXIT_FAILURE
    return EXIT_REFUSED if o.check and missed else EXIT_OK


def verdict(result: Overhead) -> str:
    return "PASS" if result.ratio <= OVERHEAD_BAR else "FAIL"
