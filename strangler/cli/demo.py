"""`strangler demo`: the example shop's whole stack, and one capability walked from legacy to
extracted and back (``strangler.demo``).

Exit codes: 0 every check of the walk held (or, without --once, Ctrl-C); 1 a check that did
not hold (the step is named), a process that did not start or exited; 2 bad input: an unknown
capability, a port in use, a routes file with errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from strangler.cli.support import RoutesOption, cli, err, load_routes, routes_path


@cli.command()
def demo(
    routes: RoutesOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="stop after the walk: exit 0 only if every check held")
    ] = False,
    port: Annotated[int, typer.Option(envvar="STRANGLER_PORT", help="the facade's port")] = 8080,
    legacy_port: Annotated[
        int | None,
        typer.Option(help="the monolith's port (default: legacy.url's)", show_default=False),
    ] = None,
    service_port: Annotated[
        int | None,
        typer.Option(
            help="the service's port (default: its url in routes.yaml)", show_default=False
        ),
    ] = None,
    capability: Annotated[str, typer.Option(help="the capability to walk")] = "product-catalog",
    walk: Annotated[
        bool,
        typer.Option(
            "--walk/--no-walk", help="--no-walk: start the stack, show legacy traffic, no steps"
        ),
    ] = True,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="where the demo keeps its databases, logs and routes copy "
            "(default: .strangler/demo beside routes.yaml)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the example stack (monolith, extracted service, facade) on a copy of routes.yaml
    and walk a capability legacy -> shadow -> canary -> extracted -> rollback; Ctrl-C stops."""
    from rich.console import Console

    from strangler.demo import DemoOptions, run_demo
    from strangler.demo.stack import DemoError

    path = routes_path(routes)
    config = load_routes(path)
    options = DemoOptions(
        routes=path,
        state_dir=state_dir or config.base_dir / ".strangler" / "demo",
        port=port,
        legacy_port=legacy_port,
        service_port=service_port,
        capability=capability,
        once=once,
        walk=walk,
    )
    # a fixed width when piped: CI logs and tests read whole lines
    console = Console(width=None if sys.stdout.isatty() else 140)
    try:
        code = run_demo(options, config, console)
    except DemoError as exc:
        err.print(f"strangler demo: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit(code)
