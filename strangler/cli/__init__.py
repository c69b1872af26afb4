"""The ``strangler`` command. Exit codes: 0 done, 1 unexpected failure, 2 bad input, 3 refused."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from facade import config as config_module
from strangler.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
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

    from parallel_run.record import ObservationRecord
    from parallel_run.report import Report
    from strangler.lifecycle.gate import Evidence


@cli.command()
def validate(
    path: Annotated[Path | None, typer.Argument(help="routes file to check")] = None,
    routes: RoutesOption = None,
) -> None:
    """Check a routes file; each error is printed as PATH:LINE: message."""
    target = path or routes_path(routes)
    config = load_routes(target)
    caps = config.routes.capabilities
    print(f"{target}: OK ({len(caps)} capabilities, {len(config.matcher.routes)} routes)")


@cli.command()
def serve(
    routes: RoutesOption = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="processes sharing the port")] = 1,
    access_log: Annotated[bool, typer.Option(help="log one line per request")] = False,
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
) -> None:
    """Run the facade; routes.yaml is reloaded when it changes (or on SIGHUP)."""
    from facade.server import ParserError, ServeOptions, WorkersFailed, configure_logging, run
    from strangler import audit

    configure_logging()
    path = routes_path(routes)
    load_routes(path)  # report config errors as PATH:LINE before anything starts
    if record is not None:
        from strangler.cli.replay import check_record_target

        check_record_target(record)
    try:
        options = ServeOptions(
            path,
            host,
            port,
            workers,
            access_log,
            shutdown_timeout,
            record,
            sample,
            # hand edits of routes.yaml go to the audit trail: the facade calls back, never imports
            reload_hooks=(audit.on_reload,),
        )
        run(options)
    except (ParserError, WorkersFailed) as exc:
        err.print(f"strangler serve: {exc}", markup=False)
        raise typer.Exit(EXIT_FAILURE) from None
    except OSError as exc:
        err.print(f"strangler serve: cannot listen on {host}:{port}: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_FAILURE) from None


@cli.command()
def status(
    routes: RoutesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
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
    evidence, store_error = status_evidence(config)
    rows = status_rows(config, evidence)
    breakers, facade_error = (
        facade_breakers(facade, config.routes.admin.token_env) if facade else ({}, None)
    )
    if facade:
        for row in rows:
            row["breaker"] = breakers.get(row["service"]) if row["service"] else None
    if as_json:
        out: dict[str, Any] = {"routes": str(config.source), "capabilities": rows}
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
    for column in ("capability", "mode", "service", "canary %", "evidence", "next step", "routes"):
        table.add_column(column)
    for row in rows:
        seen = row["evidence"]
        service = row["service"] or "-"
        if row.get("breaker"):
            service += f"\nbreaker {row['breaker']}"
        table.add_row(
            Text(row["name"]),
            row["mode"],
            Text(service),
            f"{row['percent']:g}" if row["mode"] == "canary" else "-",
            f"{seen['comparisons']} in {seen['window']}"
            + (f"\n{pct(seen['mismatch_rate'])} mismatch" if seen["comparisons"] else "")
            + (f"\n{pct(seen['error_rate'])} errors" if seen["candidate_errors"] else ""),
            Text(row["readiness"]["text"]),
            Text("\n".join(row["routes"])),
        )
    out_console().print(table)
    if facade_error is not None:
        err.print(f"strangler status: {facade_error}", markup=False)


def facade_breakers(url: str, token_env: str) -> tuple[dict[str, str], str | None]:
    """Breaker states scraped from a running facade's /metrics; empty, with the reason, when it
    cannot be read. With ``--workers N`` this is the state in the worker that answered."""
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


def status_evidence(
    config: config_module.Config,
) -> tuple[dict[str, Evidence], str | None]:
    """Each capability's evidence over its own promote.window; empty, with the reason, when
    the store cannot be read (status still shows what routes.yaml says)."""
    from datetime import UTC, datetime

    from strangler.lifecycle.steps import evidence_for

    try:
        store = open_store(config)
    except typer.Exit:
        return {}, "the result store cannot be opened"
    now = datetime.now(UTC)
    try:
        return {
            name: evidence_for(store, name, window=cap.promote.window, now=now)
            for name, cap in config.routes.capabilities.items()
        }, None
    finally:
        if store is not None:
            store.close()


def status_rows(
    config: config_module.Config, evidence: Mapping[str, Evidence] | None = None
) -> list[dict[str, Any]]:
    from strangler.lifecycle.gate import Evidence, readiness

    rows = []
    for name, cap in config.routes.capabilities.items():
        seen = (evidence or {}).get(name) or Evidence(cap.promote.window)
        rows.append(
            {
                "name": name,
                "mode": cap.mode,
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
                },
                "readiness": readiness(
                    cap.mode,
                    has_service=cap.service is not None,
                    promote=cap.promote,
                    evidence=seen,
                ).to_dict(),
            }
        )
    return rows


@cli.command()
def report(
    capability: Annotated[
        str | None, typer.Argument(help="one capability (default: all)", show_default=False)
    ] = None,
    routes: RoutesOption = None,
    since: Annotated[str, typer.Option(help="the window: 30m, 24h, 7d")] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="also write a self-contained HTML page", show_default=False),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="report one replay run (`strangler replay` prints its id)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The parallel-run report: per capability, comparisons, mismatch rate with its 95%
    interval, errors, drops, latencies, differing paths, mismatch signatures and noise.
    Live traffic only, unless --run names a replay run (then that run only, whatever --since)."""
    from datetime import UTC, datetime, timedelta

    from facade.config.units import parse_duration
    from parallel_run.report import build_report, load_examples

    config = load_routes(routes_path(routes))
    try:
        window = parse_duration(since)
    except ValueError as exc:
        err.print(f"strangler report: --since: {exc}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    capabilities = config.routes.capabilities
    # the monolith's seam experiments are reported beside the capabilities, as seam:<name>
    modes: dict[str, str] = {name: cap.mode for name, cap in capabilities.items()}
    modes |= {f"seam:{name}": seam.implementation for name, seam in config.routes.seams.items()}
    if capability is not None and capability not in modes:
        known = ", ".join(modes) or "none"
        err.print(
            f"strangler report: unknown capability {capability!r} in {config.source}"
            f" (known: {known})",
            markup=False,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    now = datetime.now(UTC)
    store = open_store(config)
    start = now - timedelta(seconds=window)
    try:
        if run is not None:
            span = store.run_span(run) if store is not None else None
            if span is None:
                err.print(
                    f"strangler report: no replay run {run!r} in the result store", markup=False
                )
                raise typer.Exit(EXIT_BAD_INPUT)
            # the run's own span, so its timeline is not squeezed into a corner of --since
            start, now = span[0], span[1] + timedelta(seconds=1)
        built = build_report(
            store,
            since=start,
            capability=capability,
            modes=modes,
            now=now,
            run=run,
        )
        examples = load_examples(store, built.example_ids()) if html is not None else {}
    finally:
        if store is not None:
            store.close()
    if html is not None:
        from parallel_run.html_report import render_html

        try:
            html.write_text(render_html(built, examples), encoding="utf-8")
        except OSError as exc:
            err.print(f"strangler report: cannot write {html}: {exc.strerror}", markup=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
    if as_json:
        json.dump(built.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    _print_report(built)
    if html is not None:
        err.print(f"wrote {html}", markup=False, highlight=False)


def _print_report(built: Report) -> None:
    from rich.text import Text

    console = out_console()

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    def pct(rate: float) -> str:
        return f"{rate * 100:.2f}%"

    since = built.since.strftime("%Y-%m-%d %H:%M")
    title = f"replay run {built.run}" if built.run else f"parallel run since {since} UTC"
    summary = Table(title=title)
    summary.add_column("capability", no_wrap=True)
    summary.add_column("mode")
    for column in ("compared", "mismatch", "rate [95% CI]", "errors (timeout)", "dropped"):
        summary.add_column(column, justify="right")
    summary.add_column("legacy ms\np50 / p99", justify="right")
    summary.add_column("candidate ms\np50 / p99", justify="right")
    for cap in built.capabilities:
        low, high = cap.mismatch_rate_ci
        rate = f"{pct(cap.mismatch_rate)}\n[{pct(low)}, {pct(high)}]" if cap.judged else "-"
        summary.add_row(
            Text(cap.name),
            cap.mode,
            str(cap.comparisons),
            str(cap.mismatches),
            rate,
            f"{cap.candidate_errors} ({cap.timeouts})",
            str(cap.dropped),
            f"{ms(cap.legacy_ms.p50)} / {ms(cap.legacy_ms.p99)}",
            f"{ms(cap.candidate_ms.p50)} / {ms(cap.candidate_ms.p99)}",
        )
    console.print(summary)
    for cap in built.capabilities:
        if cap.examples_dropped:
            console.print(
                Text(
                    f"{cap.name}: {cap.examples_dropped} examples not stored (its share of the "
                    "store, store.max_bytes_per_capability, is full); every comparison above "
                    "is counted all the same"
                )
            )
    for cap in built.capabilities:
        if cap.top_paths:
            paths = Table(title=f"{cap.name}: top differing paths", title_justify="left")
            paths.add_column("path")
            paths.add_column("count", justify="right")
            paths.add_column("example")
            for row in cap.top_paths:
                paths.add_row(Text(row.path), str(row.count), row.example_id or "-")
            console.print(paths)
        if cap.signatures:
            groups = Table(title=f"{cap.name}: mismatches by signature", title_justify="left")
            groups.add_column("differing paths")
            groups.add_column("count", justify="right")
            groups.add_column("example")
            for sig in cap.signatures:
                groups.add_row(
                    Text("\n".join(sig.paths) or "(error)"), str(sig.count), sig.example_id or "-"
                )
            console.print(groups)
        if cap.noise_paths:
            title = f"{cap.name}: learned noise"
            if cap.excused:
                title += f" ({cap.excused} earlier mismatches were only this; counted as matches)"
            noise = Table(title=title, title_justify="left")
            for column in ("route", "path", "kind", "legacy vs legacy", "legacy vs candidate"):
                noise.add_column(column)
            for n in cap.noise_paths:
                noise.add_row(
                    Text(n.route),
                    Text(n.path),
                    n.kind,
                    f"{n.twin_diffs}/{n.twin_samples}",
                    f"{n.diffs}/{n.samples}",
                )
            console.print(noise)


@cli.command()
def diff(
    observation_id: Annotated[str, typer.Argument(help="an id from `strangler report`")],
    routes: RoutesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """One recorded comparison, legacy and candidate side by side."""
    config = load_routes(routes_path(routes))
    store = open_store(config)
    try:
        record = store.observation(observation_id) if store is not None else None
    finally:
        if store is not None:
            store.close()
    if record is None:
        err.print(
            f"strangler diff: no observation {observation_id!r} in the result store",
            markup=False,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if as_json:
        json.dump(observation_dict(record), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    _print_observation(record)


def observation_dict(record: ObservationRecord) -> dict[str, Any]:
    """An observation as JSON: bodies as text (invalid UTF-8 replaced), headers as pairs."""
    from dataclasses import asdict

    data = asdict(record)
    for side in ("control", "candidate"):
        body = data[f"{side}_body"]
        data[f"{side}_body"] = None if body is None else body.decode("utf-8", "replace")
        data[f"{side}_headers"] = [list(pair) for pair in data[f"{side}_headers"]]
    data["differences"] = [dict(d) for d in record.differences]
    data["noise"] = [dict(d) for d in record.noise]
    data["created_at"] = record.created_at.isoformat()
    return data


def _print_observation(record: ObservationRecord) -> None:
    from rich.text import Text

    from parallel_run.report import pretty_body, value_text

    console = out_console()
    console.print(
        Text(
            f"{record.id}  {record.experiment}  {record.method} {record.path}\n"
            f"outcome {record.outcome} · route {record.route} · "
            f"{record.created_at.isoformat(timespec='seconds')}"
        )
    )
    differences = Table(title="differences", title_justify="left")
    for column in ("path", "kind", "legacy", "candidate"):
        differences.add_column(column, overflow="fold")
    for d in record.differences:
        differences.add_row(
            Text(str(d.get("path", ""))),
            Text(str(d.get("kind", ""))),
            Text(value_text(d.get("control"), limit=500)),
            Text(value_text(d.get("candidate"), limit=500)),
        )
    if record.differences:
        console.print(differences)
    sides = Table(show_lines=True)
    sides.add_column("")
    sides.add_column("legacy", overflow="fold")
    sides.add_column("candidate", overflow="fold")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    sides.add_row(
        "status",
        Text(str(record.control_status) if record.control_error is None else record.control_error),
        Text(
            str(record.candidate_status)
            if record.candidate_error is None
            else f"error: {record.candidate_error}"
        ),
    )
    sides.add_row("latency", ms(record.control_ms), ms(record.candidate_ms))
    sides.add_row(
        "body",
        Text(pretty_body(record.control_body, limit=2000)),
        Text(pretty_body(record.candidate_body, limit=2000)),
    )
    console.print(sides)


# each module registers its verbs on `cli` when imported
import strangler.cli.data  # noqa: E402
import strangler.cli.demo  # noqa: E402
import strangler.cli.lifecycle  # noqa: E402
import strangler.cli.regress  # noqa: E402
import strangler.cli.replay  # noqa: E402, F401


def main() -> None:
    """Console-script entry point: maps failures to the documented exit codes."""
    try:
        cli()  # click exits 2 on usage errors; typer.Exit carries our own codes
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("STRANGLER_DEBUG"):
            raise
        err.print(
            f"strangler: unexpected failure: {type(exc).__name__}: {exc} "
            "(set STRANGLER_DEBUG=1 for the traceback)",
            markup=False,
        )
        sys.exit(EXIT_FAILURE)
