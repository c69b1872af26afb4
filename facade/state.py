"""The facade's shared state, and the settings each upstream client is built from."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from facade.body_spool import Spool
from facade.config import Config
from facade.config.derived import PerConfig
from facade.lean_upstream import upstream_factory
from facade.metrics import Metrics
from facade.resilience.guard import Guards, ServiceGuard
from facade.shadow import ShadowRunner
from facade.traffic import Traffic
from facade.upstream import PooledUpstream, Upstream, Upstreams, UpstreamSettings

LEGACY = "legacy"

# Called with (previous, new) after each applied reload, and with (None, current) when the
# facade starts watching: how the operator's side (strangler.audit) follows routes.yaml without
# the facade importing it. A hook runs on the event loop: it must hand slow work to a thread.
ReloadHook = Callable[[Config | None, Config], None]


@dataclass(slots=True)
class ParseSlot:
    """The routes-file parse thread abandoned at its time limit, until it ends (one at most:
    abandoned parses must not pile up, each holding its half-built tree and a core)."""

    thread: threading.Thread | None = None

    def busy(self) -> bool:
        return self.thread is not None


@dataclass(slots=True)
class LiveConfig:
    """The configuration in force; reload swaps ``current`` whole, between requests."""

    current: Config
    last_error: str | None = None
    reloads: int = 0
    # SIGHUP sets it; the watcher reloads (see facade.reload)
    reload_requested: asyncio.Event = field(default_factory=asyncio.Event)
    hooks: tuple[ReloadHook, ...] = ()
    # a parse thread left running past its time limit: no other starts until it ends
    abandoned_parse: ParseSlot = field(default_factory=ParseSlot)


@dataclass(slots=True)
class Readiness:
    legacy_ok: bool = False
    legacy_detail: str = "not probed yet"
    checked_at: float = 0.0
    draining: bool = False
    unknown_in_a_row: int = 0  # probes that could not tell (EMFILE): see admin.record_probe


@dataclass(slots=True)
class FacadeState:
    """Everything a request may read besides itself: one per facade process."""

    live: LiveConfig
    metrics: Metrics = field(default_factory=Metrics)
    readiness: Readiness = field(default_factory=Readiness)
    # the upstream clients; tests pass ``Upstreams(factory)`` to answer from a fake upstream
    upstreams: Upstreams = field(default_factory=lambda: Upstreams(upstream_factory()))
    # temporary files of request bodies: bytes against limits.body_spool_max
    spool: Spool = field(default_factory=Spool)
    shadow: ShadowRunner = field(init=False)
    # requests per monolith endpoint, with legacy.endpoints (facade.traffic)
    traffic: Traffic = field(init=False)
    # breakers, retry budgets and bulkheads, by service: they outlive reloads (see Guards)
    guards: Guards = field(init=False)
    # upstream name -> client, per configuration alive (facade.config.derived): settings are
    # derived once per loaded file, and forgotten with it (its clients released)
    _clients: PerConfig[dict[str, PooledUpstream]] = field(init=False)

    def __post_init__(self) -> None:
        live = self.live
        self.shadow = ShadowRunner(self.metrics, current=lambda: live.current)
        self.traffic = Traffic(self.metrics, current=lambda: live.current)
        self.guards = Guards(self.metrics)
        upstreams = self.upstreams  # not self: the drop callback must not keep the state alive

        def release(clients: dict[str, PooledUpstream]) -> None:
            for client in clients.values():
                upstreams.release(client)

        self._clients = PerConfig(lambda _config: {}, on_drop=release)

    def guard(self, config: Config, name: str) -> ServiceGuard:
        """Service ``name``'s breaker, retry budget and bulkhead, as ``config`` sets them."""
        return self.guards.get(config, name)

    def client(self, config: Config, name: str) -> Upstream:
        """The client for ``legacy`` or a service, as ``config`` describes it."""
        clients = self._clients.get(config)
        client = clients.get(name)
        if client is None:
            settings = legacy_settings(config) if name == LEGACY else service_settings(config, name)
            client = clients[name] = self.upstreams.get(settings)
        return client


def legacy_settings(config: Config) -> UpstreamSettings:
    legacy = config.routes.legacy
    return UpstreamSettings(
        name="legacy",
        url=legacy.url,
        timeout=legacy.timeout,
        connect_timeout=legacy.connect_timeout,
        max_connections=legacy.max_connections,
    )


def service_settings(config: Config, name: str) -> UpstreamSettings:
    service = config.routes.services[name]
    return UpstreamSettings(
        name=name,
        url=service.url,
        timeout=service.timeout,
        connect_timeout=service.connect_timeout,
        max_connections=service.max_concurrency,
    )
