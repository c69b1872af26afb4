"""Run the facade: one process, or N workers sharing the port (SO_REUSEPORT).

SIGTERM/SIGINT drain: the listening socket closes, ``/readyz`` turns 503, in-flight requests
finish (up to ``shutdown_timeout``; request bodies still arriving keep flowing), then the
process exits. SIGHUP reloads routes.yaml now; before the facade listens it is ignored, from the
console script's first instruction (strangler/entry.py) and in every worker from its exec on (an
ignored disposition survives exec; a handler does not): the routes file is read at start anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

from aiohttp import http_parser, web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import multiprocess

from facade import config as config_module
from facade import connections, loops
from facade.app import Facade
from facade.connections import (
    AcceptErrors,
    client_connection_cap,
    raise_open_file_limit,
    upstream_files,
)
from facade.errors import FacadeError
from facade.metrics import MULTIPROC_ENV, PUBLISH_INTERVAL
from facade.reload import inventory_warning, reload_now
from facade.state import ReloadHook
from facade.tasks import spawn
from facade.translators import translator_problems

log = logging.getLogger("strangler.server")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    routes: Path
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    access_log: str | None = None  # None, "text" or "json" (facade.access_log)
    shutdown_timeout: float = 30.0
    record: Path | None = None  # sample live traffic into this mitmproxy flow file
    sample: float = 10.0  # percent of requests sampled into ``record``
    loop: str = loops.DEFAULT_LOOP  # facade.loops.LOOP_CHOICES; resolved once, workers get it
    # module-level functions (pickled by name into each worker): facade.state.ReloadHook
    reload_hooks: tuple[ReloadHook, ...] = ()


class ParserError(FacadeError):
    """aiohttp's C HTTP parser (llhttp) is not in use."""


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a malformed request with the parser's exception, which quotes the raw bytes
    (query strings, header values: possibly secrets). Keep one line without them."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "rejected a malformed request from %s: %s (status %s)"
            record.args = (peer, type(exc).__name__, exc.code)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiohttp.server").addFilter(MalformedRequestFilter())
    # the JSON access log: its lines alone on stdout, nothing around them (facade.access_log)
    json_log = logging.getLogger("strangler.access.json")
    if not json_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        json_log.addHandler(handler)
        json_log.propagate = False


def check_c_parser() -> None:
    """Refuse to run on the pure-Python HTTP parser: llhttp is what rejects smuggling attempts."""
    module = http_parser.HttpRequestParser.__module__
    if module != "aiohttp._http_parser":
        raise ParserError(
            f"aiohttp is using its pure-Python HTTP parser ({module}); the facade needs the C "
            "parser (llhttp) to reject request-smuggling framing. Unset AIOHTTP_NO_EXTENSIONS "
            "and install an aiohttp wheel built with its C extensions."
        )


def run(options: ServeOptions, config: config_module.Config | None = None) -> None:
    """Validate (unless given the ``config`` just loaded from ``options.routes``), then serve
    until a stop signal (raises ConfigError or ParserError first)."""
    if config is None:
        config = config_module.load(options.routes, extra_check=translator_problems)
    check_c_parser()
    options = dataclasses.replace(options, loop=loops.resolve(options.loop))
    _open_file_limit(config)
    if options.workers <= 1:
        loops.run(_serve(config, options, reuse_port=False), loops.resolve(options.loop))
        return
    gc.enable()  # the parent only watches its workers: nothing of its start to freeze
    _run_workers(options)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one): what
    ``--workers auto`` starts."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _open_file_limit(config: config_module.Config) -> None:
    """Raise the soft open-file limit to the hard one (workers inherit it) and say what the
    client connection cap comes to."""
    before, after = raise_open_file_limit()
    reserved = upstream_files(config) + connections.RESERVED_FILES
    configured = config.routes.limits.max_client_connections
    cap = client_connection_cap(configured, open_files=after, reserved=reserved)
    log.info(
        "open-file limit %d%s; up to %d client connections per process",
        after,
        f" (raised from {before})" if after != before else "",
        cap,
    )
    if configured is not None and configured + reserved > after:
        log.warning(
            "limits.max_client_connections (%d) plus %d descriptors for upstreams and files is "
            "over the open-file limit (%d): connections are refused before the cap is reached",
            configured,
            reserved,
            after,
        )


class WorkersFailed(FacadeError):
    """Workers kept dying as soon as they started: nothing would serve."""


def _run_workers(options: ServeOptions) -> None:
    """Start N workers and keep N running until a stop signal.

    A worker that dies (a crash, an OOM kill, someone's ``kill``) is replaced at once: the
    others keep serving on the shared port meanwhile. A worker that dies before it listens, or
    within ``QUICK_DEATH`` seconds of listening, counts towards a crash loop (timed from its
    listening, not its spawn: on a loaded machine a start alone can take longer than that),
    and its replacement waits (exponential backoff up to ``MAX_RESPAWN_DELAY``); after
    ``CRASH_LOOP`` quick deaths in a row with none of the workers up, the facade stops with an
    error rather than loop forever.
    """
    with _shared_metrics() as shared:
        supervisor = _Supervisor(options, shared)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, supervisor.on_signal)
        log.info(
            "facade: %d workers on %s:%d (loop %s)",
            options.workers,
            options.host,
            options.port,
            options.loop,
        )
        supervisor.run()


@contextlib.contextmanager
def _shared_metrics() -> Iterator[str]:
    """A fresh directory for the workers' metric files (``facade.metrics``), removed at the end.

    Fresh for each ``serve``: files left by an earlier run would be added to this one's counts.
    Any ``$PROMETHEUS_MULTIPROC_DIR`` the operator set is replaced for the same reason. The
    workers are spawned: they import prometheus_client with the variable set.
    """
    shared = tempfile.mkdtemp(prefix="strangler-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = shared
    try:
        yield shared
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(shared, ignore_errors=True)


QUICK_DEATH = 5.0
MAX_RESPAWN_DELAY = 10.0
CRASH_LOOP = 5


class _Supervisor:
    def __init__(self, options: ServeOptions, shared_metrics: str) -> None:
        self._options = options
        self._shared_metrics = shared_metrics
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: dict[int, multiprocessing.process.BaseProcess] = {}
        self._started: dict[int, float] = {}
        # set by a worker once it listens (multiprocessing.Event); when the supervisor saw it
        self._listening: dict[int, ProcessEvent] = {}
        self._listening_since: dict[int, float] = {}
        self._respawn_at: dict[int, float] = {}
        self._slot_deaths: dict[int, int] = {}  # quick deaths in a row, per slot: the backoff
        self._quick_deaths = 0  # quick deaths in a row while no worker is up: the crash loop
        self._stopping = False
        self._told_to_stop: set[int] = set()  # worker pids sent a stop signal

    def on_signal(self, signum: int, _frame: object) -> None:
        if signum != signal.SIGHUP:
            self._stopping = True
        for proc in self._workers.values():
            if proc.pid is not None and proc.is_alive():
                # each signal the parent gets is passed on once: a second stop signal to the
                # parent is the operator's "now", and reaches the workers as such
                if signum != signal.SIGHUP:
                    self._told_to_stop.add(proc.pid)
                os.kill(proc.pid, signum)

    def run(self) -> None:
        for slot in range(self._options.workers):
            self._start(slot)
        while not self._stopping:
            sentinels = [proc.sentinel for proc in self._workers.values() if proc.is_alive()]
            multiprocessing.connection.wait(sentinels, timeout=0.5)
            if self._stopping:
                break
            self._replace_the_dead()
        # a replacement started while the stop signal was being handled was not told yet
        for proc in self._workers.values():
            if proc.pid is not None and proc.is_alive() and proc.pid not in self._told_to_stop:
                self._told_to_stop.add(proc.pid)
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self._workers.values():
            proc.join()

    def _start(self, slot: int) -> None:
        with _hup_ignored_by_the_child():
            # the first Event starts multiprocessing's resource tracker, a child of this
            # process that SIGHUP would kill (its default action) like a worker: then the next
            # Event or spawn failed with "Broken pipe" and the facade stopped
            listening = self._ctx.Event()
            proc = self._ctx.Process(
                target=_worker_main,
                args=(self._options, listening),
                name=f"strangler-worker-{slot}",
            )
            proc.start()
        self._workers[slot] = proc
        self._started[slot] = time.monotonic()
        self._listening[slot] = listening
        self._listening_since.pop(slot, None)
        self._respawn_at.pop(slot, None)

    def _up_for(self, slot: int, now: float) -> float | None:
        """Seconds since the worker in ``slot`` started listening; None while it has not."""
        since = self._listening_since.get(slot)
        if since is None and self._listening[slot].is_set():
            since = self._listening_since[slot] = now
        return None if since is None else now - since

    def _replace_the_dead(self) -> None:
        now = time.monotonic()
        for slot, proc in list(self._workers.items()):
            up = self._up_for(slot, now)
            if proc.is_alive():
                if up is not None and up >= QUICK_DEATH:
                    self._quick_deaths = 0  # a worker stayed up: not a crash loop
                    self._slot_deaths[slot] = 0
                continue
            due = self._respawn_at.get(slot)
            if due is None:
                if proc.pid is not None:
                    # its live gauges (in flight, up, breaker state) leave the sums; its
                    # counters stay in them
                    multiprocess.mark_process_dead(proc.pid, self._shared_metrics)  # type: ignore[no-untyped-call]
                lived = now - self._started[slot]
                quick = up is None or up < QUICK_DEATH
                self._quick_deaths = self._quick_deaths + 1 if quick else 0
                deaths = self._slot_deaths.get(slot, 0) + 1 if quick else 0
                self._slot_deaths[slot] = deaths
                if self._quick_deaths >= CRASH_LOOP and not self._any_up(now):
                    log.error(
                        "facade: workers died %d times before listening or within %.0fs of "
                        "it; stopping",
                        self._quick_deaths,
                        QUICK_DEATH,
                    )
                    self._stop_all()
                    raise WorkersFailed(
                        f"workers keep dying at start (last exit code {proc.exitcode}); "
                        "see the log lines above"
                    )
                delay = min(MAX_RESPAWN_DELAY, 0.25 * 2**deaths) if quick else 0.0
                log.error(
                    "facade: worker %d (pid %s) exited with code %s after %.1fs; "
                    "starting a replacement%s",
                    slot,
                    proc.pid,
                    proc.exitcode,
                    lived,
                    f" in {delay:.1f}s" if delay else "",
                )
                due = self._respawn_at[slot] = now + delay
            if now >= due:
                self._start(slot)

    def _any_up(self, now: float) -> bool:
        return any(
            proc.is_alive() and (self._up_for(slot, now) or 0.0) >= QUICK_DEATH
            for slot, proc in self._workers.items()
        )

    def _stop_all(self) -> None:
        self._stopping = True
        for proc in self._workers.values():
            if proc.is_alive():
                proc.terminate()
        for proc in self._workers.values():
            proc.join(timeout=self._options.shutdown_timeout + 5)


@contextlib.contextmanager
def _hup_ignored_by_the_child() -> Iterator[None]:
    """Start a worker that ignores SIGHUP from its exec on, until its loop takes the signal.

    A handler is reset to the default action by exec, and the default ends the process: the
    supervisor passing an operator's SIGHUP to a worker still importing killed it (and a few
    such deaths stopped the whole facade). An ignored disposition is inherited across exec, so
    it is set for the spawn; SIGHUP is blocked meanwhile so one sent to the supervisor in that
    instant waits for its handler instead of being ignored. The child inherits the mask too
    and unblocks it once its loop handles SIGHUP (``_serve``).
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})


def _worker_main(options: ServeOptions, listening: ProcessEvent) -> None:
    _own_process_group()
    configure_logging()
    config = config_module.load(options.routes, extra_check=translator_problems)
    loops.run(
        _serve(config, options, reuse_port=True, listening=listening), loops.resolve(options.loop)
    )


def freeze_what_start_built() -> None:
    """Move what the start built (modules, classes, the first configuration: ~100,000 objects
    beside those of the routes) out of the collector's reach, once.

    It lives as long as the process, so a full pass never needs to scan it again: the full
    pass a reload's new configuration brings about then scans that configuration and little
    else (3,000 capabilities: 20-40 ms instead of 80-180 ms). Frozen objects are still freed
    by reference counting: the first configuration, replaced by a reload, is (it holds no
    reference cycle). Done once, before any request, nothing of a request is frozen. No
    collection first: it would scan it all once more (0.1-0.3 s of start for 10,000
    capabilities) to find what cyclic garbage the imports left, a few kilobytes kept for good.
    The collector is on from here, whoever turned it off for the start (``strangler serve``
    does, from its load to here).
    """
    gc.freeze()
    gc.enable()


def _own_process_group() -> None:
    """Keep a worker out of the terminal's signals, and from outliving its parent.

    Ctrl-C reaches the whole foreground process group, and the parent forwards it to each
    worker too: a worker that got both would take the second as "exit now, without draining".
    In its own group it hears only the parent. PR_SET_PDEATHSIG (Linux) then stops it if the
    parent is killed outright, so no worker is left holding the port.
    """
    os.setpgid(0, 0)
    parent = multiprocessing.parent_process()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)  # the parent died before the request took effect


PR_SET_PDEATHSIG = 1


async def _serve(
    config: config_module.Config,
    options: ServeOptions,
    *,
    reuse_port: bool,
    listening: ProcessEvent | None = None,  # the supervisor reads it: set once listening
) -> None:
    sampler = None
    if options.record is not None:
        from facade.recording import Sampler

        sampler = Sampler(options.record, percent=options.sample, config=config)
    facade = Facade(
        config,
        access_log=options.access_log,
        sampler=sampler,
        reload_hooks=options.reload_hooks,
    )
    # failed accepts (EMFILE...): one line per interval, not one per attempt
    asyncio.get_running_loop().set_exception_handler(AcceptErrors(facade.state.metrics))
    await facade.start()
    publisher = None
    if facade.state.metrics.shared is not None:
        publisher = spawn(_publish_metrics(facade), name="publish-metrics")
    runner = web.ServerRunner(
        facade.server(), handle_signals=False, shutdown_timeout=options.shutdown_timeout
    )
    await runner.setup()
    freeze_what_start_built()
    site = web.TCPSite(runner, options.host, options.port, reuse_port=reuse_port, backlog=1024)
    try:
        await site.start()
        admin = await _start_admin(facade, config, reuse_port=reuse_port)
    except OSError:
        if publisher is not None:
            publisher.cancel()
        await runner.cleanup()
        await facade.close()
        raise
    if listening is not None:
        listening.set()
    log.info(
        "facade listening on http://%s:%d (routes %s, loop %s, pid %d)",
        options.host,
        options.port,
        config.source,
        loops.running_loop_name(),
        os.getpid(),
    )
    if config.inventory_problem is not None:
        log.warning(inventory_warning(config.inventory_problem))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_now, facade.state)
    # a worker inherits SIGHUP blocked (see _hup_ignored_by_the_child): one sent while it
    # started is delivered now, as a reload
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    try:
        await stop.wait()
    finally:
        facade.state.readiness.draining = True
        for signum in (signal.SIGTERM, signal.SIGINT):
            # a second stop signal means "now": operators must never need SIGKILL
            loop.add_signal_handler(signum, _force_exit, signum)
        log.info(
            "facade draining: finishing in-flight requests (up to %.0fs)", options.shutdown_timeout
        )
        try:
            # stops listening, then waits for in-flight handlers; bounded as a whole
            async with asyncio.timeout(options.shutdown_timeout + 5):
                await runner.cleanup()
        except TimeoutError:
            log.warning("facade: drain took too long; closing the remaining connections")
        if admin is not None:
            await admin.cleanup()  # last: probes saw /readyz 503 all through the drain
        if publisher is not None:
            publisher.cancel()
        await facade.close()
        log.info("facade stopped")


async def _start_admin(
    facade: Facade, config: config_module.Config, *, reuse_port: bool
) -> web.ServerRunner | None:
    """Start the ``admin.listen`` listener (reserved paths only), if routes.yaml names one.

    Read at start only: a reload that changes ``admin.listen`` takes effect at the next
    restart. Workers share it as they share the main port (SO_REUSEPORT).
    """
    listen = config.routes.admin.listen
    if listen is None:
        return None
    host, port = config_module.listen_address(listen)
    runner = web.ServerRunner(facade.admin_server(), handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
    except OSError as exc:
        await runner.cleanup()
        # `serve` reports the main address; say which listener it was
        raise OSError(exc.errno, f"{exc.strerror} (admin.listen {listen})") from exc
    log.info("admin listener on http://%s (reserved paths only)", listen)
    return runner


async def _publish_metrics(facade: Facade) -> None:
    """A worker's breaker states and store counters, written where a scrape answered by
    another worker reads them: open turns half-open by the clock, with no request to write it,
    and the store's counters and state are copied from the recorder only when asked (a
    worker that never answered a scrape would show ``strangler_store_up 0`` and add nothing
    to ``strangler_store_written``)."""
    while True:
        facade.state.shadow.export_stats()
        facade.state.metrics.publish()
        await asyncio.sleep(PUBLISH_INTERVAL)


def _force_exit(signum: int) -> None:
    log.warning("facade: second %s, exiting without draining", signal.Signals(signum).name)
    logging.shutdown()
    os._exit(128 + signum)
