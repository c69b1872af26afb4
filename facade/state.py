"""Application state under typed keys, and the settings each upstream client is built from."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from facade.config import Config
from facade.metrics import Metrics
from facade.upstream import Upstreams, UpstreamSettings


@dataclass(slots=True)
class LiveConfig:
    """The configuration in force; reload swaps ``current`` whole, between requests."""

    current: Config
    last_error: str | None = None
    reloads: int = 0


@dataclass(slots=True)
class Readiness:
    legacy_ok: bool = False
    legacy_detail: str = "not probed yet"
    checked_at: float = 0.0
    draining: bool = False


CONFIG = web.AppKey("strangler_config", LiveConfig)
UPSTREAMS = web.AppKey("strangler_upstreams", Upstreams)
METRICS = web.AppKey("strangler_metrics", Metrics)
READINESS = web.AppKey("strangler_readiness", Readiness)


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
