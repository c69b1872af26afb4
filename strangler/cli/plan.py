"""``strangler plan``: what a change would move, before anything is written.

``plan cutover CAP`` / ``canary CAP --percent P`` / ``shadow CAP`` / ``rollback CAP`` /
``retire CAP`` plan what the verb would write; ``plan --against NEW.yaml`` plans a hand-edited
file; every edit verb's ``--dry-run`` prints the same plan (``show_plan``). Nothing is written:
not routes.yaml, not the audit trail, not a store that does not exist yet.

Exit codes: 0 the change would be allowed; 2 bad input (unknown capability, a proposal that does
not validate: its ``PATH:LINE: message`` errors on stderr); 3 a gate would refuse it (the
evidence gate, the retirement gate, a retired capability), as the verb itself would exit.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from strangler.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    CapabilityArgument,
    JsonOption,
    RoutesOption,
    cli,
    err,
    load_routes,
    parse_window,
    require_inventory,
    routes_path,
)

if TYPE_CHECKING:
    from facade.config import Config
    from strangler.lifecycle.plan import Plan, PlanVerb

plan = typer.Typer(
    name="plan",
    help="What a change to routes.yaml would move (endpoints, traffic, gates); writes nothing.",
    invoke_without_command=True,
)
cli.add_typer(plan, name="plan")

SinceOption = Annotated[str, typer.Option("--since", help="the traffic weighed: 24h, 7d, 30d")]
WindowOption = Annotated[
    str,
    typer.Option("--window", help="retire: how long it must have been served by its service"),
]


@plan.callback()
def plan_main(
    ctx: typer.Context,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="a proposed routes file (a hand-edited copy, next to routes.yaml)",
            show_default=False,
        ),
    ] = None,
    routes: RoutesOption = None,
    since: SinceOption = "7d",
    as_json: JsonOption = False,
) -> None:
    """Plan a lifecycle verb (plan cutover CAP, plan canary CAP --percent P, plan retire CAP...)
    or a hand-edited file (plan --against NEW.yaml): which endpoints and what share of recent
    traffic change owner, which routes become unreachable, what the gates would say. Exit 0
    allowed, 2 invalid proposal, 3 a gate would refuse."""
    if ctx.invoked_subcommand is not None:
        if against is not None:
            err.print("strangler plan: --against or a verb, not both", markup=False)
            raise typer.Exit(EXIT_BAD_INPUT)
        if as_json or since != "7d":
            # never silently dropped: a verb's plan takes its own options
            err.print(
                f"strangler plan: put --since and --json after the verb (strangler plan "
                f"{ctx.invoked_subcommand} CAP --json)",
                markup=False,
            )
            raise typer.Exit(EXIT_BAD_INPUT)
        return
    if against is None:
        err.print(ctx.get_help(), markup=False, highlight=False)
        err.print("strangler plan: name a verb (plan cutover CAP) or --against FILE", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    from strangler.lifecycle import routes_file
    from strangler.lifecycle.steps import LifecycleError, parse_proposal

    seconds = parse_window("plan", "--since", since)
    path = routes_path(routes)
    config = load_routes(path, warn=False)
    require_inventory("plan", config)
    try:
        data, digest = routes_file.read(against)
        proposed, note = parse_proposal(against, data, digest, config)
    except (LifecycleError, routes_file.RoutesFileError) as exc:
        _invalid(exc)
    require_inventory("plan", proposed)
    _print_and_exit(
        config,
        proposed,
        proposal=f"{path} -> {against}",
        since=seconds,
        as_json=as_json,
        notes=() if note is None else (note,),
    )


@plan.command("shadow")
def plan_shadow(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    since: SinceOption = "7d",
    as_json: JsonOption = False,
) -> None:
    """Plan `strangler shadow CAP`."""
    show_plan("shadow", capability, routes, since=since, as_json=as_json)


@plan.command("canary")
def plan_canary(
    capability: CapabilityArgument,
    percent: Annotated[float, typer.Option("--percent", min=0, max=100)],
    routes: RoutesOption = None,
    since: SinceOption = "7d",
    as_json: JsonOption = False,
) -> None:
    """Plan `strangler canary CAP --percent P`: P% of its traffic moves to the service."""
    show_plan("canary", capability, routes, percent=percent, since=since, as_json=as_json)


@plan.command("cutover")
def plan_cutover(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    since: SinceOption = "7d",
    as_json: JsonOption = False,
) -> None:
    """Plan `strangler cutover CAP`."""
    show_plan("cutover", capability, routes, since=since, as_json=as_json)


@plan.command("rollback")
def plan_rollback(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    to: Annotated[str, typer.Option("--to", help="shadow or legacy")] = "shadow",
    since: SinceOption = "7d",
    as_json: JsonOption = False,
) -> None:
    """Plan `strangler rollback CAP [--to legacy]`."""
    show_plan(
        "rollback",
        capability,
        routes,
        to=None if to == "shadow" else to,
        since=since,
        as_json=as_json,
    )


@plan.command("retire")
def plan_retire(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    window: WindowOption = "24h",
    since: SinceOption = "7d",
    as_json: JsonOption = False,
) -> None:
    """Plan `strangler retire CAP`: the retirement gate's conditions, the endpoints it ends."""
    show_plan("retire", capability, routes, window=window, since=since, as_json=as_json)


def show_plan(
    verb: PlanVerb,
    capability: str,
    routes: Path | None,
    *,
    percent: float | None = None,
    to: str | None = None,
    window: str = "24h",
    since: str = "7d",
    as_json: bool,
    force: bool = False,
    reason: str | None = None,
) -> NoReturn:
    """Print the plan of ``verb`` and exit with its code (``--dry-run`` of the edit verbs:
    ``force`` and ``reason`` as the verb takes them, so the exit is the verb's own)."""
    from strangler.lifecycle import routes_file
    from strangler.lifecycle.plan import proposed_by_verb
    from strangler.lifecycle.steps import BadRequest, LifecycleError

    if force and not (reason or "").strip():
        _invalid(
            BadRequest("--force needs --reason TEXT: an override is audited with its reason"),
            verb=verb,
        )
    seconds = parse_window(verb, "--since", since)
    retire_window = parse_window(verb, "--window", window)
    path = routes_path(routes)
    config = load_routes(path, warn=False)
    require_inventory(verb if verb == "retire" else "plan", config)
    try:
        data, _ = routes_file.read(path)
        proposed = proposed_by_verb(path, data, config, verb, capability, percent=percent, to=to)
    except (LifecycleError, routes_file.RoutesFileError) as exc:
        _invalid(exc, verb=verb)
    _print_and_exit(
        config,
        proposed,
        proposal=f"{verb} {capability}",
        since=seconds,
        retire_window=retire_window,
        as_json=as_json,
        forced=force,
    )


def _invalid(exc: Exception, *, verb: str = "plan") -> NoReturn:
    from strangler.lifecycle.steps import InvalidRoutes

    code = getattr(exc, "exit_code", EXIT_BAD_INPUT)
    if isinstance(exc, InvalidRoutes):
        print(exc, file=sys.stderr)  # PATH:LINE: message lines, as validate prints them
    else:
        err.print(f"strangler {verb}: {exc}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code if code in (2, 3) else EXIT_BAD_INPUT)


def _print_and_exit(
    config: Config,
    proposed: Config,
    *,
    proposal: str,
    since: float,
    as_json: bool,
    retire_window: float | None = None,
    notes: tuple[str, ...] = (),
    forced: bool = False,
) -> NoReturn:
    from dataclasses import replace

    from strangler.lifecycle.plan import plan_change
    from strangler.lifecycle.retirement import DEFAULT_WINDOW
    from strangler.lifecycle.steps import LifecycleError, read_store

    try:
        # read only: a plan never creates, migrates or writes the store
        reading = read_store(config)
    except LifecycleError as exc:
        err.print(f"strangler plan: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILURE) from None
    try:
        built = plan_change(
            config,
            proposed,
            proposal=proposal,
            store=reading.store,
            now=datetime.now(UTC),
            since=since,
            retire_window=retire_window or DEFAULT_WINDOW,
        )
    finally:
        reading.close()
    store_notes = () if reading.note is None else (reading.note,)
    built = replace(built, notes=(*notes, *store_notes), forced=forced)
    if as_json:
        json.dump(built.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(describe(built))
    raise typer.Exit(built.exit_code)


def describe(built: Plan) -> str:
    """The plan as text: capabilities and their gates, endpoints and traffic, routes."""
    from strangler.lifecycle.gate import format_window
    from strangler.map.model import share

    window = format_window((built.until - built.since).total_seconds())
    lines = [f"plan: {built.proposal} (nothing written)"]
    if not built.capabilities:
        lines.append("  no capability changes: routes.yaml would stay as it is in force")
    for cap in built.capabilities:
        before = cap.before.describe() if cap.before else "(none)"
        after = cap.after.describe() if cap.after else "(removed: the monolith serves it)"
        served = ""
        if cap.before is not None and cap.after is not None:
            served = f"; service serves {cap.before.served:g}% -> {cap.after.served:g}%"
        if cap.before and cap.after and cap.before.service != cap.after.service:
            served += f"; service {cap.before.service} -> {cap.after.service}"
        lines.append(f"  {cap.name}: {before} -> {after}{served}")
        if cap.before and cap.after and cap.before.routes != cap.after.routes:
            gone = [r for r in cap.before.routes if r not in cap.after.routes]
            added = [r for r in cap.after.routes if r not in cap.before.routes]
            lines += [f"    - route {r}" for r in gone] + [f"    + route {r}" for r in added]
        lines.append(f"    {cap.verdict()}")
    traffic = built.traffic
    if traffic is None:
        lines.append(
            "traffic: routes.yaml names no legacy.endpoints inventory, so no traffic per "
            "endpoint is counted: the share each change moves cannot be shown"
        )
    else:
        lines.append(f"traffic over the last {window}: {traffic.requests} requests")
        if not traffic.changes:
            lines.append("  no endpoint changes owner")
        for change in traffic.changes:
            lines.append(
                f"  {change.endpoint}: {change.requests} requests "
                f"({share(change.requests, traffic.requests) * 100:.1f}% of all); "
                f"{change.owner_before} -> {change.owner_after}; served by a service "
                f"{change.served_before} -> {change.served_after}"
            )
        to_services = share(traffic.to_services, traffic.requests) * 100
        to_monolith = share(traffic.to_monolith, traffic.requests) * 100
        lines.append(
            f"  moved to services: {traffic.to_services} requests ({to_services:.1f}% of all); "
            f"back to the monolith: {traffic.to_monolith} ({to_monolith:.1f}%)"
        )
    for route in built.unreachable:
        new = "becomes unreachable" if route.new else "is unreachable"
        lines.append(
            f"route {route.route} of {route.capability} (line {route.line}) {new}: its "
            f"every sample path goes to {route.taken_by}"
        )
    lines += [f"note: {note}" for note in built.notes]
    if built.refused and built.forced:
        lines.append("the gate would refuse; --force --reason overrides it: exit 0")
    else:
        lines.append(
            "the gate would refuse: exit 3" if built.refused else "the gates would allow it: exit 0"
        )
    return "\n".join(lines)
