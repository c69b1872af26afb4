"""Opening a capability's sync: plugins, databases and relays, wired from routes.yaml.

The composition root of ``strangler data sync|capture|status``: the CLI parses and prints,
``relay.py`` moves rows, and this module connects them. Every error a user can fix in
routes.yaml comes out as ``PlanError`` with the place (``loc``) to name as PATH:LINE.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError

from acl.data import (
    DataMoveError,
    PluginNotFound,
    RowTranslator,
    SyncSource,
    SyncTarget,
    load_row_translator,
    load_sync_source,
    load_sync_target,
)
from facade.config.model import Config
from strangler.data.faults import BatchFailed, describe
from strangler.data.health import HealthSink, relay_name
from strangler.data.metrics import SyncMetrics
from strangler.data.plan import (
    Direction,
    DirectionPlan,
    PlanError,
    PlanReader,
    SyncPlan,
    direction_plan,
    resolve_plugin,
)
from strangler.data.relay import Relay, settings_of
from strangler_sync import (
    Capture,
    CaptureState,
    ChangeLog,
    SqlAlchemyTx,
    inspect,
    ledger_epochs,
    restamp,
    sync_engine,
)

_T = TypeVar("_T")
SUPPORTED_BACKENDS = ("sqlite", "postgresql")  # the dialects strangler_sync has SQL for
OPEN_RETRY = 2.0  # seconds between tries to open a direction that failed to open
DRAIN_GIVE_UP = 10  # failed batches without progress before a direction no longer needed stops


def _data_loc(plan: SyncPlan, direction: Direction, role: str) -> tuple[str, ...]:
    base = ("capabilities", plan.capability, "data")
    if direction == "back":
        return (*base, "sync", "back", role)
    return (*base, role)


def engine_for(url: str) -> Engine:
    """An engine for an outbox's database: ``strangler_sync.sync_engine`` (SQLite: BEGIN
    IMMEDIATE, waits for the monolith's writer), reconnecting after a database restart."""
    if url.startswith("sqlite"):
        return sync_engine(url)
    return sync_engine(url, pool_pre_ping=True)


def _plugin_value(spec: str, loc: tuple[str, ...], kind: type[_T], what: str) -> _T:
    where = ".".join(loc)
    try:
        value = resolve_plugin(spec)
    except PluginNotFound as exc:
        raise PlanError(f"{where}: {exc}", loc=loc) from exc
    if not isinstance(value, kind):
        raise PlanError(f"{where}: {spec!r} gives {type(value).__name__}, not {what}", loc=loc)
    return value


def _supported_url(url: str, loc: tuple[str, ...]) -> str:
    """``url`` when strangler_sync speaks its dialect; else a PlanError at ``loc`` (before a
    missing driver could surface as a bare ModuleNotFoundError). Never quotes the URL: it may
    hold a password."""
    where = ".".join(loc)
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise PlanError(f"{where}: not a SQLAlchemy database URL", loc=loc) from None
    if backend not in SUPPORTED_BACKENDS:
        raise PlanError(
            f"{where}: data sync supports SQLite and PostgreSQL, not {backend}", loc=loc
        )
    return url


def load_capture(plan: SyncPlan) -> Capture:
    """What ``data.sync.capture`` names: the capture spec and the monolith's database URL."""
    loc = ("capabilities", plan.capability, "data", "sync", "capture")
    capture = _plugin_value(plan.capture, loc, Capture, "a strangler_sync.Capture(spec, url)")
    if capture.spec.capability != plan.capability:
        raise PlanError(
            f"{'.'.join(loc)}: {plan.capture!r} captures {capture.spec.capability!r}, "
            f"not {plan.capability!r}",
            loc=loc,
        )
    _supported_url(capture.url, loc)
    return capture


def outbox_url(plan: SyncPlan, direction: Direction) -> str:
    """The database holding the source outbox of ``direction``."""
    if direction == "forward":
        return load_capture(plan).url
    assert plan.back_outbox is not None  # direction_plan refused a missing back
    loc = ("capabilities", plan.capability, "data", "sync", "back", "outbox")
    return _supported_url(_plugin_value(plan.back_outbox, loc, str, "a database URL"), loc)


def forward_target_url(config: Config, plan: SyncPlan) -> str | None:
    """The service database the forward direction writes (its ledger), when the target plugin
    names one (``.url``, as the chassis's targets do)."""
    target = load_sync_target(direction_plan(config, plan.capability, "forward").target)
    try:
        url = getattr(target, "url", None)
    finally:
        target.close()
    return url if isinstance(url, str) else None


def capture_epoch(plan: SyncPlan) -> str | None:
    """The monolith's capture epoch (None: no capture installed)."""
    capture = load_capture(plan)
    engine = engine_for(capture.url)
    try:
        return capture_state(engine, capture).epoch
    finally:
        engine.dispose()


def stale_epochs(config: Config, plan: SyncPlan) -> set[str]:
    """The epochs the service's forward ledger holds besides the monolith's capture epoch: not
    empty after the capture was re-created (``remove --drop-outbox``) and not copied since."""
    url = forward_target_url(config, plan)
    epoch = capture_epoch(plan) if url is not None else None
    if url is None or epoch is None:
        return set()
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            held = ledger_epochs(SqlAlchemyTx(connection), plan.capability, "forward")
            connection.rollback()
    finally:
        engine.dispose()
    return held - {epoch}


def restamp_after_copy(config: Config, plan: SyncPlan, url: str) -> int:
    """A full copy brought the service to the monolith's state: its forward ledger's versions
    of an earlier capture epoch become the current epoch's (``strangler_sync.restamp``)."""
    epoch = capture_epoch(plan)
    if epoch is None:
        return 0
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            return restamp(SqlAlchemyTx(connection), plan.capability, "forward", epoch)
    finally:
        engine.dispose()


def capture_state(engine: Engine, capture: Capture) -> CaptureState:
    with engine.connect() as connection:
        try:
            return inspect(SqlAlchemyTx(connection), capture.spec)
        finally:
            connection.rollback()


@dataclass
class Plugins:
    source: SyncSource
    translate: RowTranslator
    target: SyncTarget


def load_plugins(config: Config, plan: SyncPlan, direction: Direction) -> Plugins:
    """The three plugins of ``direction``. ``PlanError`` for a plugin routes.yaml cannot name;
    ``DataMoveError`` when one cannot open its database (nothing is left open)."""
    d = direction_plan(config, plan.capability, direction)
    opened: list[SyncSource | SyncTarget] = []

    def bad(role: str, exc: PluginNotFound) -> PlanError:
        for plugin in opened:
            plugin.close()
        loc = _data_loc(plan, direction, role)
        return PlanError(f"{'.'.join(loc)}: {exc}", loc=loc)

    try:
        try:
            translate = load_row_translator(d.translate)
        except PluginNotFound as exc:
            raise bad("translate", exc) from exc
        try:
            source = load_sync_source(d.source)
        except PluginNotFound as exc:
            raise bad(
                "source", PluginNotFound(d.source, reason=f"{exc.reason} (sync needs read_keys)")
            ) from exc
        opened.append(source)
        try:
            target = load_sync_target(d.target)
        except PluginNotFound as exc:
            raise bad(
                "target", PluginNotFound(d.target, reason=f"{exc.reason} (sync needs apply)")
            ) from exc
    except DataMoveError:
        for plugin in opened:
            plugin.close()
        raise
    return Plugins(source, translate, target)


class HostLock:
    """``flock`` on a file next to routes.yaml, one per (capability, direction): the kernel
    drops it when its process dies, even by SIGKILL. Its holder relays under a name that is
    stable across restarts, so a relay restarted after ``kill -9`` resumes the SQLite lease at
    once instead of waiting for it to run out; any other relay on this host (the lock is
    taken) gets a name of its own and waits as a standby."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def holder_for(
    config: Config, capability: str, direction: Direction
) -> tuple[str, HostLock | None]:
    """The lease holder's name for a relay of this process, and the lock backing it."""
    lock = HostLock(config.resolve_path(f".strangler/sync/{capability}.{direction}.lock"))
    if lock.acquire():
        return f"{socket.gethostname()}:{lock.path}", lock
    return relay_name(), None


@dataclass
class OpenRelay:
    relay: Relay
    outbox: ChangeLog
    resources: ExitStack

    def close(self) -> None:
        self.resources.close()


def open_relay(
    config: Config,
    reader: PlanReader,
    direction: Direction,
    *,
    batch_size: int | None,
    metrics: SyncMetrics | None,
    health: HealthSink | None,
    log: Callable[[str], None],
) -> OpenRelay:
    """A relay for one direction, its plugins and its outbox's engine opened."""
    plan = reader.plan
    d: DirectionPlan = direction_plan(config, plan.capability, direction)
    resources = ExitStack()
    try:
        capture = load_capture(plan) if direction == "forward" else None
        engine = engine_for(capture.url if capture else outbox_url(plan, direction))
        resources.callback(engine.dispose)
        plugins = load_plugins(config, plan, direction)
        resources.callback(plugins.source.close)
        resources.callback(plugins.target.close)
        holder, lock = holder_for(config, plan.capability, direction)
        if lock is not None:
            resources.callback(lock.release)
        outbox = ChangeLog(engine, aggregate=d.aggregate, direction=direction, holder=holder)

        def state() -> str:
            if capture is not None:
                return capture_state(engine, capture).state
            outbox.epoch()  # the service's outbox has no triggers: it is there, or not
            return "installed"

        relay = Relay(
            plan.capability,
            direction,
            outbox=outbox,
            source=plugins.source,
            translate=plugins.translate,
            target=plugins.target,
            settings=lambda: settings_of(reader.current(), direction, batch_size=batch_size),
            target_aggregate=d.target_aggregate,
            metrics=metrics.of(plan.capability, direction) if metrics else None,
            health=health,
            capture_state=state,
            log=log,
        )
    except BaseException:
        resources.close()
        raise
    return OpenRelay(relay, outbox, resources)


@dataclass
class Runner:
    """``strangler data sync CAP`` without ``--once``: a thread per direction the mode needs,
    started when the mode comes to need it (``shadow`` starts forward; ``canary`` the way
    back), until ``stop`` is set. Each relay finishes its batch and writes a last heartbeat. A
    direction the mode no longer needs (a rollback to ``shadow``) drains what is pending, then
    stops: a relay left running would keep applying without the mode wanting it. A direction
    asked for by name (``--direction``) that routes.yaml closes (a retired capability's way
    back) drains, stops, and ends the run."""

    reader: PlanReader
    only: Direction | None
    open: Callable[[Direction], OpenRelay]
    log: Callable[[str], None]
    opened: dict[Direction, OpenRelay] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)
    crashed: list[BaseException] = field(default_factory=list)
    running: dict[Direction, tuple[threading.Thread, threading.Event]] = field(default_factory=dict)

    def wanted(self) -> Sequence[Direction]:
        plan = self.reader.current()
        if self.only:
            # a direction asked for by name runs until routes.yaml closes it (retire)
            return () if self.only in plan.closed else (self.only,)
        return plan.needed

    def run(self, stop: threading.Event) -> None:
        """Follow until ``stop``; ``opened`` may hold directions the caller opened already
        (to turn their configuration errors into exit codes before anything runs)."""
        waiting_logged: set[Direction] = set()
        try:
            while not stop.is_set():
                wanted = self.wanted()
                self._retire(wanted)
                if self.only and not wanted and not self.running:
                    self.log(
                        f"{self.only}: closed by routes.yaml (the capability is retired: no "
                        "way back); stopped"
                    )
                    return
                for direction in wanted:
                    if direction in self.running:
                        continue
                    if direction not in self.opened:
                        try:
                            self.opened[direction] = self.open(direction)
                        except (DataMoveError, PlanError, OSError) as exc:
                            if direction not in waiting_logged:
                                waiting_logged.add(direction)
                                self.log(f"cannot open the {direction} direction: {describe(exc)}")
                            continue
                    self._start(direction, stop)
                stop.wait(OPEN_RETRY)
        finally:
            stop.set()
            for _, halt in self.running.values():
                halt.set()  # after stop: a stopping process does not drain
            for thread in self.threads:
                thread.join()
            for handle in self.opened.values():
                handle.close()

    def _retire(self, wanted: Sequence[Direction]) -> None:
        """Tell the directions no longer wanted to drain and stop; close those that have."""
        for direction, (thread, halt) in list(self.running.items()):
            if direction not in wanted and not halt.is_set():
                self.log(f"{self.opened[direction].relay.name}: no longer needed: draining")
                halt.set()
            if halt.is_set() and not thread.is_alive():
                del self.running[direction]
                self.opened.pop(direction).close()

    def _start(self, direction: Direction, stop: threading.Event) -> None:
        relay = self.opened[direction].relay
        self.log(f"{relay.name}: following")
        halt = threading.Event()
        thread = threading.Thread(target=self._follow, args=(relay, halt, stop), name=relay.name)
        self.running[direction] = (thread, halt)
        self.threads.append(thread)
        thread.start()

    def _follow(self, relay: Relay, halt: threading.Event, stop: threading.Event) -> None:
        try:
            relay.follow(halt)
            if not stop.is_set():  # no longer needed: what is pending still goes over
                relay.follow(stop, until_idle=True, give_up=DRAIN_GIVE_UP)
                self.log(f"{relay.name}: drained, stopped")
        except BatchFailed as exc:
            self.log(f"{relay.name}: stopped before it drained: {describe(exc)}")
        except BaseException as exc:  # a bug, not a database: stop the process, loudly
            self.crashed.append(exc)
            self.log(f"{relay.name}: stopped: {type(exc).__name__}: {describe(exc)}")
            stop.set()
