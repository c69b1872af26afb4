"""Run the compare service: one process on one port, until SIGTERM or SIGINT.

SIGHUP reloads routes.yaml now (it is also reloaded when it changes, as the facade's is). On
stop, the listener closes, the monolith calls under way end (briefly), then the comparisons
queued are made and the store is flushed: what was answered 202 is recorded when it can be.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from compare_service.app import MAX_PENDING, MAX_PENDING_BYTES, CompareService
from facade import config as config_module
from facade.connections import AcceptErrors, raise_open_file_limit
from facade.reload import reload_now
from facade.server import check_c_parser
from facade.state import ReloadHook

log = logging.getLogger("strangler.compare")


@dataclass(frozen=True, slots=True)
class CompareOptions:
    routes: Path
    host: str = "127.0.0.1"
    port: int = 8090
    max_pending: int = MAX_PENDING
    max_pending_bytes: int = MAX_PENDING_BYTES
    shutdown_timeout: float = 10.0
    host_suffix: str = ""  # removed from the copies' Host when set (Envoy's -shadow)
    reload_hooks: tuple[ReloadHook, ...] = ()  # at start and after each reload that took


def run(options: CompareOptions, config: config_module.Config) -> None:
    """Serve until a stop signal (``config``: just loaded from ``options.routes``)."""
    check_c_parser()
    raise_open_file_limit()  # as the facade: its connection cap is worked out from it
    asyncio.run(_serve(config, options))


async def _serve(config: config_module.Config, options: CompareOptions) -> None:
    service = CompareService(
        config,
        max_pending=options.max_pending,
        max_pending_bytes=options.max_pending_bytes,
        host_suffix=options.host_suffix,
        reload_hooks=options.reload_hooks,
    )
    # failed accepts (EMFILE...): one line per interval, not one per attempt
    asyncio.get_running_loop().set_exception_handler(AcceptErrors(service.state.metrics))
    await service.start()
    runner = web.ServerRunner(
        service.server(), handle_signals=False, shutdown_timeout=options.shutdown_timeout
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, options.host, options.port, backlog=1024).start()
    except OSError:
        await runner.cleanup()
        await service.close()
        raise
    log.info(
        "compare service listening on http://%s:%d (routes %s, pid %d)",
        options.host,
        options.port,
        config.source,
        os.getpid(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_now, service.state)
    try:
        await stop.wait()
    finally:
        service.state.readiness.draining = True
        await runner.cleanup()
        await service.close()
        log.info("compare service stopped")
