"""The ``strangler`` command. Exit codes: 0 done, 1 unexpected failure, 2 bad input, 3 refused."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from facade import config as config_module
from facade.errors import ConfigError

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3

cli = typer.Typer(
    name="strangler",
    help="Migrate a monolith to services one capability at a time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

RoutesOption = Annotated[
    Path | None,
    typer.Option(
        "--routes",
        help="routes.yaml to use (default ./routes.yaml, or $STRANGLER_ROUTES).",
        show_default=False,
    ),
]


class _State:
    routes: Path | None = None


@cli.callback()
def _main(routes: RoutesOption = None) -> None:
    _State.routes = routes


def _routes_path(local: Path | None) -> Path:
    return local or _State.routes or config_module.default_routes_path()


def _load(path: Path) -> config_module.Config:
    try:
        return config_module.load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@cli.command()
def validate(
    path: Annotated[Path | None, typer.Argument(help="routes file to check")] = None,
    routes: RoutesOption = None,
) -> None:
    """Check a routes file; each error is printed as PATH:LINE: message."""
    target = path or _routes_path(routes)
    config = _load(target)
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
) -> None:
    """Run the facade; routes.yaml is reloaded when it changes (or on SIGHUP)."""
    from facade.server import ParserError, ServeOptions, configure_logging, run

    configure_logging()
    path = _routes_path(routes)
    _load(path)  # report config errors as PATH:LINE before anything starts
    try:
        run(ServeOptions(path, host, port, workers, access_log, shutdown_timeout))
    except ParserError as exc:
        err.print(f"strangler serve: {exc}", markup=False)
        raise typer.Exit(EXIT_FAILURE) from None
    except OSError as exc:
        err.print(f"strangler serve: cannot listen on {host}:{port}: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_FAILURE) from None


@cli.command()
def status(
    routes: RoutesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Each capability: mode, service, canary percent and routes, as written in routes.yaml."""
    config = _load(_routes_path(routes))
    rows = status_rows(config)
    if as_json:
        json.dump({"routes": str(config.source), "capabilities": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table(title=f"capabilities in {config.source}")
    for column in ("capability", "mode", "service", "canary %", "routes"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            row["mode"],
            row["service"] or "-",
            f"{row['percent']:g}" if row["mode"] == "canary" else "-",
            "\n".join(row["routes"]),
        )
    Console().print(table)


def status_rows(config: config_module.Config) -> list[dict[str, Any]]:
    rows = []
    for name, cap in config.routes.capabilities.items():
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
            }
        )
    return rows


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
