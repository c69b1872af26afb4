"""What every ``strangler`` verb shares: the app, exit codes, the routes file, the store.

Verbs live in small modules (``cli_lifecycle``, ``cli_data``, ``cli_replay``...) that register on
``cli``; ``strangler.cli`` imports them all and holds the entry point.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from facade import config as config_module
from facade.errors import ConfigError

if TYPE_CHECKING:
    from parallel_run.store import ResultStore

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3

cli = typer.Typer(
    name="strangler",
    help="Migrate a monolith to services one capability at a time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
# piped output (a CI log, `| less`) is not a terminal: rich would squeeze tables into 80
# columns and cut capability names; 160 keeps a row on one line
PIPED_WIDTH = 160


def out_console() -> Console:
    """The console for a verb's tables: the terminal's width, or ``PIPED_WIDTH`` when piped."""
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)


RoutesOption = Annotated[
    Path | None,
    typer.Option(
        "--routes",
        help="routes.yaml to use (default ./routes.yaml, or $STRANGLER_ROUTES).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]
HtmlOption = Annotated[
    Path | None,
    typer.Option("--html", help="also write a self-contained HTML page", show_default=False),
]
CapabilityArgument = Annotated[str, typer.Argument(help="the capability, as named in routes.yaml")]


class _State:
    routes: Path | None = None


@cli.callback()
def _main(routes: RoutesOption = None) -> None:
    _State.routes = routes


def parse_window(verb: str, option: str, text: str) -> float:
    """A duration option (``30m``, ``24h``, ``7d``) in seconds; exit 2 naming the option."""
    from facade.config.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        err.print(f"strangler {verb}: {option}: {exc}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def routes_path(local: Path | None) -> Path:
    return local or _State.routes or config_module.default_routes_path()


def load_routes(path: Path, *, warn: bool = True) -> config_module.Config:
    """The routes file, or exit 2 printing each problem; a problem of its endpoint inventory
    is printed as a warning (``warn``) and the verb goes on (``require_inventory`` refuses)."""
    from facade.translators import translator_problems

    try:
        config = config_module.load(path, extra_check=translator_problems)
    except ConfigError as exc:
        for problem in exc.problems:
            # plain lines, never wrapped: editors and CI parse PATH:LINE: message
            print(problem, file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if warn:
        warn_inventory(config.inventory_problem)
    return config


def warn_inventory(problem: str | None) -> None:
    """Print an endpoint inventory's problem as a warning (the verb goes on without it)."""
    if problem is not None:
        print(
            "warning: the endpoint inventory (legacy.endpoints) cannot be used; this goes on "
            "without it:",
            file=sys.stderr,
        )
        print(problem, file=sys.stderr)


def require_inventory(verb: str, config: config_module.Config) -> None:
    """Exit 2 naming the problem when the endpoint inventory is named but cannot be used:
    ``map``, ``plan`` and ``retire`` would report wrong traffic without it."""
    if config.inventory_problem is not None:
        print(
            f"strangler {verb}: the endpoint inventory (legacy.endpoints) cannot be used:",
            file=sys.stderr,
        )
        print(config.inventory_problem, file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT)


def open_store(config: config_module.Config) -> ResultStore | None:
    """The result store routes.yaml names, or None while a SQLite store was never created
    (a report then has zero counts; nothing is created just by reading)."""
    from facade.config.evidence import store_settings
    from parallel_run.sqldb import resolve_url
    from parallel_run.store import open_store

    url = config.store_url
    parsed = resolve_url(url, base_dir=config.base_dir)
    if (
        parsed.get_backend_name() == "sqlite"
        and parsed.database not in (None, "", ":memory:")
        and not Path(parsed.database).exists()
    ):
        return None
    try:
        return open_store(store_settings(config))
    except Exception as exc:
        shown = parsed.render_as_string(hide_password=True)
        err.print(
            f"strangler: cannot open the result store {shown}: {type(exc).__name__}: {exc}",
            markup=False,
        )
        raise typer.Exit(EXIT_FAILURE) from None
