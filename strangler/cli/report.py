"""`strangler` verbs that read the result store's evidence: ``report``, ``diff``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from strangler.cli.support import (
    EXIT_BAD_INPUT,
    HtmlOption,
    JsonOption,
    RoutesOption,
    cli,
    err,
    load_routes,
    open_store,
    out_console,
    parse_window,
    routes_path,
)

if TYPE_CHECKING:
    from facade.config import Config
    from parallel_run.record import ObservationRecord
    from parallel_run.report import ExampleSync, KeyOf, Report


@cli.command()
def report(
    capability: Annotated[
        str | None, typer.Argument(help="one capability (default: all)", show_default=False)
    ] = None,
    routes: RoutesOption = None,
    since: Annotated[str, typer.Option(help="the window: 30m, 24h, 7d")] = "24h",
    as_json: JsonOption = False,
    html: HtmlOption = None,
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

    from parallel_run.report import build_report, load_examples

    config = load_routes(routes_path(routes))
    window = parse_window("report", "--since", since)
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
            sync_keys=sync_keys(config),
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


def sync_keys(config: Config) -> dict[str, KeyOf]:
    """Per capability with data.sync: how to find an observation's key, the path parameter
    ``data.sync.key_param`` names in the route its request matched (None without one)."""
    return {
        name: _key_of(config, name, cap.data.sync.key_param)
        for name, cap in config.routes.capabilities.items()
        if cap.data is not None and cap.data.sync is not None
    }


def _key_of(config: Config, capability: str, param: str | None) -> KeyOf:
    from urllib.parse import unquote

    def key_of(record: ObservationRecord) -> str | None:
        if param is None:
            return None
        match = config.matcher.match(record.method, record.path.partition("?")[0])
        if match is None or match.route.capability != capability or param not in match.params:
            return None
        return unquote(match.params[param])

    return key_of


def example_cell(example_id: str, sync: ExampleSync | None) -> str:
    """An example's id, with the sync lag when it was observed and ``(stale?)`` when its key
    had a change on its way then."""
    if not example_id:
        return "-"
    if sync is None:
        return example_id
    lag = "" if sync.lag_seconds is None else f"\nlag {sync.lag_seconds:.1f}s"
    return example_id + lag + (" (stale?)" if sync.possibly_stale else "")


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
                paths.add_row(
                    Text(row.path), str(row.count), example_cell(row.example_id, row.sync)
                )
            console.print(paths)
        if cap.signatures:
            groups = Table(title=f"{cap.name}: mismatches by signature", title_justify="left")
            groups.add_column("differing paths")
            groups.add_column("count", justify="right")
            groups.add_column("example")
            for sig in cap.signatures:
                groups.add_row(
                    Text("\n".join(sig.paths) or "(error)"),
                    str(sig.count),
                    example_cell(sig.example_id, sig.sync),
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
    as_json: JsonOption = False,
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
