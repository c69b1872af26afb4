"""`strangler` verbs about the routes file and the facade process: ``validate``, ``serve``,
``status``."""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from facade import config as config_module
from facade.loops import DEFAULT_LOOP
from strangler.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    JsonOption,
    RoutesOption,
    cli,
    err,
    load_routes,
    open_store,
    out_console,
    routes_path,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from parallel_run.store import ResultStore
    from strangler.lifecycle.gate import Evidence, SyncEvidence
    from strangler.replicas import Replica


@cli.command()
def validate(
    path: Annotated[Path | None, typer.Argument(help="routes file to check")] = None,
    routes: RoutesOption = None,
) -> None:
    """Check a routes file; each error is printed as PATH:LINE: message."""
    # No collector in this one-shot process: the load builds its objects with it paused, and
    # the pass its ~500,000 allocations make due the moment it is back scans what the
    # configuration holds (10,000 capabilities: 0.1-0.2 s of CPU) to find nothing, just before
    # the process exits (a load makes no reference cycles: docs/benchmarks.md)
    gc.disable()
    target = path or routes_path(routes)
    config = load_routes(target, warn=False)
    if config.inventory_problem is not None:
        # an error here, a warning elsewhere: a bad inventory is caught before deploy
        print(config.inventory_problem, file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT)
    caps = config.routes.capabilities
    print(f"{target}: OK ({len(caps)} capabilities, {len(config.matcher.routes)} routes)")


@cli.command()
def serve(
    routes: RoutesOption = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    workers: Annotated[
        str,
        typer.Option(
            help="processes sharing the port: a number, or auto for one per core",
            callback=lambda value: _workers(value),
        ),
    ] = "1",
    access_log: Annotated[
        str | None,
        typer.Option(
            "--access-log",
            metavar="text|json",
            help="log each request: text, a line in the facade's log; json, one object a line "
            "on stdout (the Envoy engine's fields)",
            callback=lambda value: _access_log_format(value),
            show_default=False,
        ),
    ] = None,
    shutdown_timeout: Annotated[float, typer.Option(help="seconds to drain on stop")] = 30.0,
    record: Annotated[
        Path | None,
        typer.Option(
            help="sample live traffic into this mitmproxy flow file (needs strangler[record])",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        float, typer.Option(help="percent of requests --record samples", min=0.001, max=100)
    ] = 10.0,
    loop: Annotated[
        str,
        typer.Option(
            envvar="STRANGLER_LOOP",
            help="event loop: asyncio (the default), uvloop, or auto (uvloop where it imports, "
            "on Linux)",
            callback=lambda value: _loop_choice(value),
        ),
    ] = DEFAULT_LOOP,
    upstream_client: Annotated[
        str,
        typer.Option(
            "--upstream-client",
            envvar="STRANGLER_UPSTREAM_CLIENT",
            metavar="lean|aiohttp",
            help="python engine: the client upstreams are called with; lean (facade."
            "lean_upstream), or aiohttp's, to fall back to",
            callback=lambda value: _upstream_client_choice(value),
        ),
    ] = "lean",
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="python|envoy",
            help="the data plane: the Python facade, or Envoy compiled from routes.yaml "
            "(needs strangler[envoy]; docs/engines.md)",
            callback=lambda value: _engine_choice(value),
        ),
    ] = "python",
    compare_url: Annotated[
        str | None,
        typer.Option(
            "--compare-url",
            help="envoy: a running compare service to mirror shadow traffic to (default: "
            "serve starts one)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the facade; routes.yaml is reloaded when it changes (or on SIGHUP)."""
    if engine == "envoy":
        if record is not None:
            raise typer.BadParameter("--record needs --engine python", param_hint="--record")
        _serve_envoy(
            routes_path(routes),
            host,
            port,
            available_workers(workers),
            access_log,
            compare_url,
            shutdown_timeout,
        )
        return
    if compare_url is not None:
        raise typer.BadParameter("only with --engine envoy", param_hint="--compare-url")
    from facade.loops import LoopUnavailable
    from facade.server import (
        ParserError,
        ServeOptions,
        WorkersFailed,
        available_cores,
        configure_logging,
        run,
    )
    from strangler import audit

    configure_logging()
    # read where each worker builds its clients (facade.state): workers inherit the environment
    os.environ["STRANGLER_UPSTREAM_CLIENT"] = upstream_client
    path = routes_path(routes)
    # the collector stays off until the start's objects are frozen, once, before the facade
    # listens (facade.server.freeze_what_start_built turns it back on): the pass the load
    # makes due would scan the configuration just before it is frozen (10,000 capabilities:
    # 0.1-0.2 s of CPU)
    gc.disable()
    config = load_routes(path)  # report config errors as PATH:LINE before anything starts
    if record is not None:
        from strangler.cli.replay import check_record_target

        check_record_target(record)
    try:
        options = ServeOptions(
            path,
            host,
            port,
            available_cores() if workers == "auto" else int(workers),
            access_log,
            shutdown_timeout,
            record,
            sample,
            loop,
            # hand edits of routes.yaml, and which file this replica runs, go to the audit
            # trail: the facade calls back, never imports
            reload_hooks=(audit.on_reload, partial(audit.replica_hook, "python", f"{host}:{port}")),
        )
        run(options, config)  # a large file is read once, not twice
        # once every worker has stopped: the replica is no longer listed by `status`
        audit.replica_stopped(config, engine="python", listen=f"{host}:{port}")
    except (ParserError, WorkersFailed, LoopUnavailable) as exc:
        err.print(f"strangler serve: {exc}", markup=False)
        raise typer.Exit(EXIT_FAILURE) from None
    except OSError as exc:
        err.print(f"strangler serve: cannot listen on {host}:{port}: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_FAILURE) from None


def available_workers(workers: str) -> int:
    from facade.server import available_cores

    return available_cores() if workers == "auto" else int(workers)


def _serve_envoy(
    path: Path,
    host: str,
    port: int,
    workers: int,
    access_log: str | None,
    compare_url: str | None,
    shutdown_timeout: float,
) -> None:
    """``serve --engine envoy`` (strangler.engine.supervisor): exit 2 when routes.yaml is bad
    or Envoy cannot run it, with the reason; 1 when Envoy or a helper cannot start or stay up."""
    from facade.server import configure_logging
    from strangler import audit
    from strangler.engine.supervisor import EngineError, EngineOptions, Refused, run

    configure_logging()
    config = load_routes(path)
    if access_log == "text":
        err.print("strangler serve: --engine envoy logs json only (--access-log json)")
        raise typer.Exit(EXIT_BAD_INPUT)
    found = shutil.which("envoy") or str(Path(sys.executable).parent / "envoy")
    options = EngineOptions(
        path,
        host,
        port,
        workers,
        access_log,
        compare_url,
        found,
        shutdown_timeout,
        on_config=(partial(record_config_in_force, listen=f"{host}:{port}"),),
    )
    try:
        run(options, config)
        # Envoy and its helpers have stopped: `status` no longer lists this replica
        audit.replica_stopped(config, engine="envoy", listen=f"{host}:{port}")
    except Refused as exc:
        err.print(f"strangler serve: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except EngineError as exc:
        err.print(f"strangler serve: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILURE) from None


def record_config_in_force(
    config: config_module.Config, config_hash: str, *, listen: str | None = None
) -> None:
    """The audit trail records which configuration each data plane ran, when the audit
    module knows how (``strangler.audit.config_in_force``)."""
    from strangler import audit

    record = getattr(audit, "config_in_force", None)
    if record is not None:
        record(config, engine="envoy", config_hash=config_hash, listen=listen)


def _engine_choice(value: str) -> str:
    if value in ("python", "envoy"):
        return value
    raise typer.BadParameter(f"{value!r} is neither python nor envoy")


def _access_log_format(value: str | None) -> str | None:
    if value is None or value in ("text", "json"):
        return value
    raise typer.BadParameter(f"{value!r} is neither text nor json")


def _workers(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 1):
        return value
    raise typer.BadParameter(f"{value!r} is neither a number of processes (>= 1) nor auto")


def _upstream_client_choice(value: str) -> str:
    if value in ("lean", "aiohttp"):
        return value
    raise typer.BadParameter(f"{value!r} is neither lean nor aiohttp")


def _loop_choice(value: str) -> str:
    from facade.loops import LOOP_CHOICES

    if value in LOOP_CHOICES:
        return value
    raise typer.BadParameter(f"{value!r} is not one of {', '.join(LOOP_CHOICES)}")


@cli.command()
def status(
    routes: RoutesOption = None,
    as_json: JsonOption = False,
    facade: Annotated[
        str | None,
        typer.Option(
            "--facade",
            envvar="STRANGLER_FACADE_URL",
            help="a running facade (http://127.0.0.1:8080): show its circuit breakers",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Each capability: mode, service, canary percent, parallel-run evidence over its
    promote.window, and whether it is ready for its next step; with --facade, the state of
    each service's circuit breaker in that facade."""
    config = load_routes(routes_path(routes))
    from strangler.replicas import drift

    seen = status_evidence(config)
    store_error = seen.store_error
    rows = status_rows(config, seen.evidence, seen.sync)
    for row in rows:  # retired capabilities: requests the monolith answered anyway (24 h)
        row["retired_alarm"] = seen.alarms.get(row["name"], 0) if row["retired"] else None
    replica_drift = drift(seen.replicas)
    breakers, facade_error = (
        facade_breakers(facade, config.routes.admin.token_env) if facade else ({}, None)
    )
    if facade:
        for row in rows:
            row["breaker"] = breakers.get(row["service"]) if row["service"] else None
    if as_json:
        out: dict[str, Any] = {
            "routes": str(config.source),
            "capabilities": rows,
            "replicas": [replica.to_dict() for replica in seen.replicas],
            "replica_drift": replica_drift,
        }
        if store_error is not None:
            out["store_error"] = store_error
        if facade_error is not None:
            out["facade_error"] = facade_error
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from rich.text import Text

    from strangler.lifecycle.gate import pct

    table = Table(title=f"capabilities in {config.source}")
    columns = ("capability", "mode", "service", "canary %", "evidence", "sync", "next step")
    for column in (*columns, "routes"):
        table.add_column(column)
    for row in rows:
        shown = row["evidence"]
        service = row["service"] or "-"
        if row.get("breaker"):
            service += f"\nbreaker {row['breaker']}"
        table.add_row(
            Text(row["name"]),
            row["mode"],
            Text(service),
            f"{row['percent']:g}" if row["mode"] == "canary" else "-",
            f"{shown['comparisons']} in {shown['window']}"
            + (f"\n{pct(shown['mismatch_rate'])} mismatch" if shown["comparisons"] else "")
            + (f"\n{pct(shown['error_rate'])} errors" if shown["candidate_errors"] else ""),
            Text(sync_cell(row["sync"])),
            Text(row["readiness"]["text"]),
            Text("\n".join(row["routes"])),
        )
    out_console().print(table)
    print_replicas(seen.replicas, replica_drift)
    for row in rows:
        if row["retired_alarm"]:
            out_console().print(
                f"ALARM: retired capability {row['name']}: {row['retired_alarm']} request(s) "
                f"reached the monolith in the last {ALARM_WINDOW_TEXT}",
                markup=False,
            )
    if facade_error is not None:
        err.print(f"strangler status: {facade_error}", markup=False)


def print_replicas(found: list[Replica], replica_drift: str | None) -> None:
    """One line per replica seen recently (none: nothing printed), then the drift warning."""
    from strangler.replicas import SEEN_WINDOW_TEXT, name

    if not found:
        return
    console = out_console()
    console.print(f"replicas seen in the last {SEEN_WINDOW_TEXT} (newest first):", markup=False)
    for replica in found:
        part = f" (part of {replica.part_of})" if replica.part_of else ""
        console.print(
            f"  {name(replica)}{part} pid {replica.pid}: routes {replica.routes_sha256[:12]}, "
            f"config {replica.config_hash[:12]}, {replica.event or 'seen'} "
            f"{replica.at.strftime('%Y-%m-%d %H:%M:%S')} UTC",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if replica_drift is not None:
        console.print(f"WARNING: {replica_drift}", markup=False, highlight=False, soft_wrap=True)


def facade_breakers(url: str, token_env: str) -> tuple[dict[str, str], str | None]:
    """Breaker states scraped from a running facade's /metrics; empty, with the reason, when it
    cannot be read. With ``--workers N`` every worker's breaker is counted (``breaker_states``)."""
    import urllib.error
    import urllib.request

    from facade.resilience.scrape import breaker_states

    request = urllib.request.Request(url.rstrip("/") + "/metrics")
    token = os.environ.get(token_env)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=3) as answer:
            return breaker_states(answer.read().decode("utf-8", "replace")), None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return {}, f"cannot read {url}/metrics: {reason}"


def sync_cell(sync: Mapping[str, Any] | None) -> str:
    """The status table's sync column: ``fwd 0.4s · 0 parked`` per direction, then the last
    verify; ``-`` for a capability without data.sync."""
    if sync is None:
        return "-"
    lines = []
    for d in sync["directions"]:
        name = "fwd" if d["direction"] == "forward" else d["direction"]
        if not d["running"]:
            lines.append(f"{name} stopped ({d['heartbeat_age_s']:.0f}s ago)")
            continue
        line = f"{name} {d['lag_seconds']:.1f}s · {d['parked']} parked"
        if d["conflicts"]:
            line += f" · {d['conflicts']} conflicts"
        if d["capture"] != "installed":
            line += f" · capture {d['capture']}"
        lines.append(line)
    if not lines:
        lines.append("no relay")
    verify = sync["verify"]
    if verify is None:
        lines.append("not verified")
    else:
        lines.append("verify " + ("clean" if verify["equal"] else "dirty"))
    return "\n".join(lines)


ALARM_WINDOW_TEXT = "24h"  # how far back status looks for requests of retired capabilities


@dataclass(slots=True)
class StatusEvidence:
    """What ``status`` reads from the store; empty, with ``store_error``, when it cannot."""

    evidence: dict[str, Evidence] = field(default_factory=dict)
    sync: dict[str, SyncEvidence] = field(default_factory=dict)
    alarms: dict[str, int] = field(default_factory=dict)
    replicas: list[Replica] = field(default_factory=list)
    store_error: str | None = None


def status_evidence(config: config_module.Config) -> StatusEvidence:
    """Each capability's evidence over its own promote.window, the data sync of those with
    data.sync, the retired capabilities' requests the monolith answered (``retired_alarms``)
    and the replicas seen recently (strangler.replicas); empty, with the reason, when the store
    cannot be read (status still shows what routes.yaml says)."""
    from datetime import UTC

    from strangler import replicas
    from strangler.lifecycle.steps import evidence_for, has_back, has_sync, sync_evidence_for

    try:
        store = open_store(config)
    except typer.Exit:
        return StatusEvidence(store_error="the result store cannot be opened")
    now = datetime.now(UTC)
    caps = config.routes.capabilities
    try:
        return StatusEvidence(
            {
                name: evidence_for(store, name, window=cap.promote.window, now=now)
                for name, cap in caps.items()
            },
            {
                name: sync_evidence_for(store, name, now=now, has_back=has_back(cap))
                for name, cap in caps.items()
                if has_sync(cap)
            },
            retired_alarms(config, store, now=now) if store is not None else {},
            replicas.seen(store, now=now) if store is not None else [],
        )
    finally:
        if store is not None:
            store.close()


def retired_alarms(
    config: config_module.Config, store: ResultStore, *, now: datetime
) -> dict[str, int]:
    """Requests the monolith answered in the last ``ALARM_WINDOW_TEXT`` for each retired
    capability (matched by it, or of an endpoint its claim names), from the endpoint tallies."""
    from facade.config.endpoints import retired_claims
    from facade.config.units import parse_duration
    from parallel_run.endpoint_traffic import retired_reached_monolith

    retired = [name for name, cap in config.routes.capabilities.items() if cap.retired]
    if not retired:
        return {}
    inventory = config.inventory
    claims = retired_claims(inventory, config.matcher, retired) if inventory is not None else {}
    since = now - timedelta(seconds=parse_duration(ALARM_WINDOW_TEXT))
    return retired_reached_monolith(store, retired=retired, claims=claims, since=since)


def status_rows(
    config: config_module.Config,
    evidence: Mapping[str, Evidence] | None = None,
    sync: Mapping[str, SyncEvidence] | None = None,
) -> list[dict[str, Any]]:
    """One JSON object per capability; ``sync`` is None for one without data.sync."""
    from strangler.lifecycle.gate import Evidence, SyncEvidence, readiness
    from strangler.lifecycle.steps import has_sync

    rows = []
    for name, cap in config.routes.capabilities.items():
        seen = (evidence or {}).get(name) or Evidence(cap.promote.window)
        synced = (sync or {}).get(name) or SyncEvidence(name, has_sync(cap))
        rows.append(
            {
                "name": name,
                "mode": cap.mode,
                "retired": cap.retired,
                "service": cap.service,
                "percent": cap.canary.percent
                if cap.mode == "canary"
                else (100.0 if cap.mode == "extracted" else 0.0),
                "translator": cap.translator,
                "routes": [
                    f"{' '.join(rule.methods) if rule.methods else '*'} {rule.path}"
                    for rule in cap.match
                ],
                "evidence": seen.to_dict(),
                "promote": {
                    "min_comparisons": cap.promote.min_comparisons,
                    "max_mismatch_rate": cap.promote.max_mismatch_rate,
                    "max_error_rate": cap.promote.max_error_rate,
                    "ungated_canary_percent": cap.promote.ungated_canary_percent,
                    "max_sync_lag": cap.promote.max_sync_lag,
                },
                "sync": synced.to_dict() if synced.required else None,
                "readiness": readiness(
                    cap.mode,
                    has_service=cap.service is not None,
                    promote=cap.promote,
                    evidence=seen,
                    sync=synced,
                ).to_dict(),
            }
        )
    return rows
