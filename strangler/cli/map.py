"""`strangler map`: the monolith's endpoints, who owns each, their traffic, what is left."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from strangler.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_REFUSED,
    HtmlOption,
    JsonOption,
    RoutesOption,
    cli,
    err,
    load_routes,
    out_console,
    parse_window,
    require_inventory,
    routes_path,
)
from strangler.text import methods, owners, when

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from strangler.map.model import EndpointRow, Hold, MigrationMap

# how many unused endpoints the terminal lists before it says "and N more" (--json has all)
LISTED = 10


@cli.command("map")
def map_(
    routes: RoutesOption = None,
    since: Annotated[str, typer.Option(help="the window: 24h, 7d, 30d")] = "30d",
    as_json: JsonOption = False,
    html: HtmlOption = None,
    decommission: Annotated[
        bool,
        typer.Option(
            "--decommission",
            help="exit 3, listing it, while anything outside retired capabilities had traffic"
            " or the facade has not counted over the whole window",
        ),
    ] = False,
) -> None:
    """The migration map: every endpoint of the monolith (legacy.endpoints) with its owning
    capability and mode, its requests in the window and the share services served; what to
    extract next, what nobody calls, what is claimed in part, what can be deleted."""
    from datetime import UTC, datetime, timedelta

    from parallel_run.endpoint_traffic import endpoint_totals, first_tally, served_by_minute
    from strangler.lifecycle.steps import LifecycleError, read_store
    from strangler.map.model import build_map
    from strangler.map.model import decommission as holding

    config = load_routes(routes_path(routes), warn=False)
    require_inventory("map", config)
    if config.inventory is None:
        err.print(
            f"strangler map: {config.source} names no endpoint inventory. Write one in the "
            "monolith with `python manage.py strangler_endpoints --output endpoints.json` "
            "(strangler_django in INSTALLED_APPS) and name it in routes.yaml: "
            "`legacy: {endpoints: endpoints.json}`",
            markup=False,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    window = timedelta(seconds=parse_window("map", "--since", since))
    now = datetime.now(UTC)
    try:
        # read only: the map never creates, migrates or writes the store
        reading = read_store(config)
    except LifecycleError as exc:
        err.print(f"strangler map: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILURE) from None
    store = reading.store
    try:
        totals = endpoint_totals(store, since=now - window, until=now) if store else []
        minutes = served_by_minute(store, since=now - window, until=now) if store else []
        counted_since = first_tally(store) if store else None
    finally:
        reading.close()
    if reading.note is not None and store is None:
        err.print(f"strangler map: {reading.note}", markup=False, highlight=False)
    built = build_map(
        config,
        config.inventory,
        totals,
        now=now,
        window=window,
        minutes=minutes,
        counted_since=counted_since,
    )
    if html is not None:
        from strangler.map.html import render_map_html

        try:
            html.write_text(render_map_html(built), encoding="utf-8")
        except OSError as exc:
            err.print(f"strangler map: cannot write {html}: {exc.strerror}", markup=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
    holds = holding(built)
    if as_json:
        json.dump(built.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif decommission:
        _print_holds(holds, built.coverage_gap)
    else:
        _print_map(built)
    if html is not None and not as_json:
        err.print(f"wrote {html}", markup=False, highlight=False)
    if decommission and not built.ready:
        raise typer.Exit(EXIT_REFUSED)


def _pct(part: float) -> str:
    return f"{part * 100:.1f}%"


def _methods(row: EndpointRow) -> str:
    return methods(row.methods, sep=" ", any_method="any")


def _owner(row: EndpointRow) -> str:
    """Who owns it, worded as plan words it (``strangler.text.owners``): ``catalog
    (extracted)``, ``(extracted, retired)`` for a retired one, ``partial: ...`` for several or
    one that takes only part of it, ``monolith`` for none."""
    retired = ", retired" if row.deletable else ""
    return owners(
        row.capabilities, partial=row.partial, describe=lambda c: f"{row.modes[c]}{retired}"
    )


def _modes(row: EndpointRow) -> str:
    return ", ".join(f"{c}: {m}" for c, m in row.modes.items())


def _print_map(built: MigrationMap) -> None:
    from rich.text import Text

    from strangler.map.model import share

    console = out_console()
    total = built.requests
    console.print(
        Text(
            f"The monolith since {when(built.since)} (inventory {built.inventory}):\n"
            f"{_pct(built.request_share_served)} of {total} requests served by services; "
            f"{built.endpoints_moved} of {len(built.rows)} endpoints moved "
            f"({_pct(built.endpoint_share_moved)}), {built.endpoints_claimed} claimed by a "
            "capability."
        )
    )
    # the endpoints that matter now; the unused, shadowed and uncounted ones are listed below
    # (--json and --html show every row)
    shown = [r for r in built.rows if r.requests or r.capabilities]
    shown += [r for r in built.unlisted if r.requests]
    table = Table(
        title=f"endpoints with traffic or a capability ({len(shown)}; the others below)",
        title_justify="left",
    )
    table.add_column("endpoint", overflow="fold", min_width=24)
    table.add_column("methods", max_width=12)
    table.add_column("capability: mode", max_width=28)
    for column in ("requests", "share", "by services"):
        table.add_column(column, justify="right")
    table.add_column("last seen", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for row in shown:
        table.add_row(
            Text(row.key),
            _methods(row),
            Text(_owner(row)),
            str(row.requests) if row.counted else "-",
            _pct(share(row.requests, total)) if row.counted else "-",
            _pct(row.service_share) if row.requests else "-",
            when(row.last_seen),
            row.status,
        )
    console.print(table)
    candidates = built.candidates()
    if candidates:
        ranked = Table(title="next candidates: no capability, by traffic", title_justify="left")
        ranked.add_column("#", justify="right")
        ranked.add_column("endpoint", overflow="fold")
        ranked.add_column("methods")
        ranked.add_column("requests", justify="right")
        ranked.add_column("share", justify="right")
        for rank, row in enumerate(candidates, 1):
            ranked.add_row(
                str(rank),
                Text(row.key),
                _methods(row),
                str(row.requests),
                _pct(share(row.requests, total)),
            )
        console.print(ranked)
    _print_list(console, "no traffic in the window (delete, do not migrate)", built.unused())
    _print_list(console, "claimed in part", built.partial(), detail=_modes)
    _print_list(console, "retired: deletable in the monolith", built.deletable())
    _print_list(console, "not counted (patterns no template expresses)", built.uncounted())
    unknown = built.unknown
    if unknown.requests:
        console.print(
            Text(
                f"{unknown.requests} requests ({_pct(share(unknown.requests, total))}) matched "
                "no endpoint of the inventory (unknown): regenerate it if the monolith changed"
            )
        )


def _print_list(
    console: Console,
    title: str,
    rows: list[EndpointRow],
    *,
    detail: Callable[[EndpointRow], str] | None = None,
) -> None:
    from rich.text import Text

    if not rows:
        return
    lines = Text(f"{title} ({len(rows)}):\n")
    for row in rows[:LISTED]:
        extra = f"  ({detail(row)})" if detail is not None else ""
        lines.append(f"  {row.key}{extra}\n")
    if len(rows) > LISTED:
        lines.append(f"  and {len(rows) - LISTED} more (--json lists all)\n")
    console.print(lines, end="")


def _print_holds(holds: list[Hold], gap: str | None) -> None:
    """What holds the monolith up and, when the tallies do not cover the window, why that is
    no evidence: either refuses (exit 3)."""
    from rich.text import Text

    console = out_console()
    if gap is not None:
        console.print(Text(f"The monolith cannot be switched off yet: {gap}."))
    if not holds and gap is None:
        console.print(
            Text(
                "Nothing outside retired capabilities had traffic in the window: the monolith "
                "can be switched off."
            )
        )
        return
    if not holds:
        return
    table = Table(
        title=f"{len(holds)} still hold the monolith up (traffic outside retired capabilities)",
        title_justify="left",
    )
    table.add_column("endpoint", overflow="fold")
    table.add_column("requests", justify="right")
    table.add_column("served by the monolith", justify="right")
    table.add_column("capability")
    table.add_column("last seen")
    for hold in holds:
        table.add_row(
            Text(hold.endpoint),
            str(hold.requests),
            str(hold.served_by_legacy),
            Text(", ".join(hold.capabilities) or "-"),
            when(hold.last_seen),
        )
    console.print(table)
