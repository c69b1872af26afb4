"""`strangler` verbs that move a capability through its lifecycle, and the audit trail.

``shadow``, ``canary --percent P``, ``cutover``, ``rollback [--to legacy]`` edit routes.yaml
(``strangler.lifecycle.steps``); ``retire`` ends a capability's migration
(``strangler.lifecycle.retire``); ``audit`` lists and verifies the hash-chained change log. Exit
codes: 0 done (or nothing to do), 1 failure (nothing changed), 2 bad input, 3 refused by the
evidence gate (``--force --reason TEXT`` overrides, audited), by a retired capability, or, for
``audit --verify``, a broken chain."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from strangler.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_REFUSED,
    CapabilityArgument,
    JsonOption,
    RoutesOption,
    cli,
    err,
    load_routes,
    open_store,
    out_console,
    parse_window,
    require_inventory,
    routes_path,
    warn_inventory,
)

if TYPE_CHECKING:
    from parallel_run.audit import AuditRecord
    from strangler.lifecycle.steps import LifecycleError, Outcome, Verb

ForceOption = Annotated[
    bool, typer.Option("--force", help="override the evidence gate (needs --reason; audited)")
]
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", help="why: kept in the audit trail", show_default=False),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="print what the change would move (strangler plan); write nothing"
    ),
]


@cli.command()
def shadow(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    force: ForceOption = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Shadow a capability: the monolith answers, the service is compared in the background."""
    _run("shadow", capability, routes, force=force, reason=reason, as_json=as_json, dry_run=dry_run)


@cli.command()
def canary(
    capability: CapabilityArgument,
    percent: Annotated[
        float,
        typer.Option(
            "--percent", min=0, max=100, help="share of clients (sticky) the service serves"
        ),
    ],
    routes: RoutesOption = None,
    force: ForceOption = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Serve a sticky share of a capability's clients from the service; above
    promote.ungated_canary_percent the evidence gate applies."""
    _run(
        "canary",
        capability,
        routes,
        percent=percent,
        force=force,
        reason=reason,
        as_json=as_json,
        dry_run=dry_run,
    )


@cli.command()
def cutover(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    force: ForceOption = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Let the service serve every request of a capability (mode extracted); refused with
    exit 3 unless the parallel-run evidence meets the capability's promote: limits."""
    _run(
        "cutover", capability, routes, force=force, reason=reason, as_json=as_json, dry_run=dry_run
    )


@cli.command()
def rollback(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    to: Annotated[
        str,
        typer.Option(
            "--to", help="shadow (default: the monolith serves, comparison goes on) or legacy"
        ),
    ] = "shadow",
    force: ForceOption = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Move a capability in canary or extracted mode back to shadow: the monolith serves at
    once; --to legacy stops the comparison too."""
    _run(
        "rollback",
        capability,
        routes,
        to=None if to == "shadow" else to,
        force=force,
        reason=reason,
        as_json=as_json,
        dry_run=dry_run,
    )


def _run(
    verb: Verb,
    capability: str,
    routes: Path | None,
    *,
    percent: float | None = None,
    to: str | None = None,
    force: bool,
    reason: str | None,
    as_json: bool,
    dry_run: bool = False,
) -> None:
    from strangler.lifecycle.steps import LifecycleError, step

    if dry_run:
        from strangler.cli.plan import show_plan

        show_plan(
            verb,
            capability,
            routes,
            percent=percent,
            to=to,
            as_json=as_json,
            force=force,
            reason=reason,
        )
    path = routes_path(routes)
    try:
        outcome = step(path, capability, verb, percent=percent, to=to, force=force, reason=reason)
    except LifecycleError as exc:
        _refuse(verb, exc, as_json=as_json)
    warn_inventory(outcome.inventory_problem)
    if as_json:
        json.dump(outcome.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print(_describe(outcome, path))


@cli.command()
def retire(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    window: Annotated[
        str,
        typer.Option(
            "--window",
            help="how long it must have been served by its service alone: 30m, 24h, 7d",
        ),
    ] = "24h",
    force: ForceOption = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """End a capability's migration: no fallback to the monolith, no way back (retired: true,
    fallback: error), audited. Refused with exit 3, naming every unmet condition, until it
    has been extracted for the window with no fallback and its data sync drained."""
    from strangler.lifecycle.retire import retire as retire_step
    from strangler.lifecycle.steps import LifecycleError

    if dry_run:
        from strangler.cli.plan import show_plan

        show_plan(
            "retire",
            capability,
            routes,
            window=window,
            as_json=as_json,
            force=force,
            reason=reason,
        )

    seconds = parse_window("retire", "--window", window)
    path = routes_path(routes)
    require_inventory("retire", load_routes(path, warn=False))
    try:
        done = retire_step(path, capability, window=seconds, force=force, reason=reason)
    except LifecycleError as exc:
        _refuse("retire", exc, as_json=as_json)
    if as_json:
        json.dump(done.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if not done.changed:
        print(f"{capability}: already retired; {path} not changed")
        return
    print(
        f"{capability}: retired in {path} (retired: true, fallback: error; audit record "
        f"#{done.audit_seq}): no fallback to the monolith, no way back"
    )
    if done.forced:
        print("  retirement conditions overridden (--force): " + "; ".join(done.unmet))


def _refuse(verb: str, exc: LifecycleError, *, as_json: bool) -> NoReturn:
    """Report a step that could not be made, with its exit code."""
    from strangler.lifecycle.steps import InvalidRoutes

    if as_json:
        json.dump({"error": str(exc), "exit_code": exc.exit_code}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    if isinstance(exc, InvalidRoutes):
        # plain PATH:LINE: message lines, as `strangler validate` prints them
        print(exc, file=sys.stderr)
    else:
        err.print(f"strangler {verb}: {exc}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code) from None


def _describe(outcome: Outcome, path: Path) -> str:
    def where(mode: str, percent: float) -> str:
        return f"canary {percent:g}%" if mode == "canary" else mode

    before = where(outcome.from_mode, outcome.from_percent)
    after = where(outcome.to_mode, outcome.to_percent)
    if not outcome.changed:
        return f"{outcome.capability}: already {after}; {path} not changed"
    lines = [
        f"{outcome.capability}: {before} -> {after} in {path} (audit record #{outcome.audit_seq})"
    ]
    if outcome.forced:
        lines.append(
            "  evidence gate overridden (--force): " + "; ".join(outcome.decision.shortfalls)
        )
    return "\n".join(lines)


@cli.command()
def audit(
    capability: Annotated[
        str | None, typer.Argument(help="one capability (default: all)", show_default=False)
    ] = None,
    routes: RoutesOption = None,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(min=1, help="at most this many records, newest first")] = 50,
    verify: Annotated[
        bool, typer.Option("--verify", help="check the hash chain; exit 3 if it is broken")
    ] = False,
    expect_head: Annotated[
        str | None,
        typer.Option(
            help="with --verify: a head hash noted earlier that must still be in the chain",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The change history of routes.yaml: who moved which capability, when, why, on what
    evidence. --verify checks the hash chain (exit 0 intact, 3 broken)."""
    from parallel_run import audit as audit_log

    config = load_routes(routes_path(routes))
    if capability is not None and verify:
        err.print("strangler audit: --verify checks the whole chain; drop CAP", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    store = open_store(config)
    try:
        if verify:
            result = (
                audit_log.verify(store, expect_head=expect_head)
                if store is not None
                else audit_log.Verification(expect_head is None, 0, audit_log.GENESIS)
            )
            if as_json:
                json.dump(result.to_dict(), sys.stdout, indent=2)
                sys.stdout.write("\n")
            elif result.ok:
                print(f"audit trail intact: {result.records} records, head {result.head_hash}")
            if not result.ok:
                where = f"record #{result.bad_seq}" if result.bad_seq is not None else "the chain"
                err.print(
                    f"strangler audit: the audit trail is broken at {where}: {result.problem} "
                    f"({result.records} records before it are intact)",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
                raise typer.Exit(EXIT_REFUSED)
            return
        found = (
            audit_log.records(store, capability=capability, limit=limit)
            if store is not None
            else []
        )
    finally:
        if store is not None:
            store.close()
    if as_json:
        json.dump(
            {"routes": str(config.source), "records": [r.to_dict() for r in found]},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return
    _print_records(found)


def _print_records(found: list[AuditRecord]) -> None:
    from rich.table import Table
    from rich.text import Text

    def where(mode: str | None, percent: float | None) -> str:
        if mode is None:
            return "(none)"
        return f"canary {percent or 0:g}%" if mode == "canary" else mode

    table = Table(title="routes.yaml changes, newest first")
    for column in ("#", "when (UTC)", "who", "capability", "change", "source", "reason"):
        table.add_column(column)
    for record in found:
        entry = record.entry
        before = where(entry.from_mode, entry.from_percent)
        after = where(entry.to_mode, entry.to_percent)
        step = entry.evidence.get("step")
        if step in ("retire", "reopen"):
            after = "retired" if step == "retire" else f"{after} (reopened)"
        change = f"{before} -> {after}"
        replica = entry.evidence.get("replica")
        if entry.source == "config-in-force" and isinstance(replica, dict):
            # no capability moved: which file (and engine configuration) a replica runs
            change = (
                f"{replica.get('engine')} {replica.get('listen') or ''} pid {replica.get('pid')}"
                f": routes {str(replica.get('routes_sha256'))[:12]}, "
                f"config {str(replica.get('config_hash'))[:12]}"
            )
        table.add_row(
            str(record.seq),
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            Text(f"{entry.user}@{entry.host}"),
            Text(entry.capability),
            change,
            entry.source + (" (forced)" if entry.forced else ""),
            Text(entry.reason or "-"),
        )
    out_console().print(table)
