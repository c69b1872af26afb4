"""``strangler data copy CAP`` and ``strangler data verify CAP``: a capability's rows, moved.

The plugins come from ``capabilities.CAP.data`` in routes.yaml (``source``, ``translate``,
``target``, ``batch_size``) and are imported only when a verb runs: the facade never imports
the monolith or a service. The engine is ``strangler.data.move``.

Exit codes: 0 done (copy: nothing skipped; verify: both sides equal), 1 a source or target
failed, 2 bad input (unknown capability, no ``data:``, a plugin that cannot load, a bad
checkpoint), 3 copy skipped rows (each reported by key) or verify found differences.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from facade import config as config_module
from strangler.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_REFUSED,
    RoutesOption,
    cli,
    err,
    load_routes,
    routes_path,
)

if TYPE_CHECKING:
    from rich.progress import Progress

    from acl.data import RowSource, RowTarget, RowTranslator
    from strangler.data.move import Checkpoint, Skipped, Verification

data = typer.Typer(
    name="data",
    help="Move a capability's rows into its service's database through the ACL, and verify.",
    no_args_is_help=True,
)
cli.add_typer(data, name="data")

CapabilityArgument = Annotated[
    str, typer.Argument(help="a capability of routes.yaml with a 'data:' section")
]
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]
BatchOption = Annotated[
    int | None,
    typer.Option(min=1, help="rows per batch (default: data.batch_size)", show_default=False),
]
_SHOWN_SKIPPED = 20


def checkpoint_path(config: config_module.Config, capability: str) -> Path:
    """Next to routes.yaml, like the default store: ``.strangler/data/CAP.json``."""
    return config.resolve_path(".strangler/data") / f"{capability}.json"


def _fail(verb: str, message: str, code: int) -> NoReturn:
    # one plain line, never wrapped: scripts grep it
    print(f"strangler data {verb}: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _line(config: config_module.Config, loc: tuple[str, ...]) -> int:
    from ruamel.yaml import YAML

    try:
        tree = YAML(typ="rt").load(config.source.read_text(encoding="utf-8"))
    except Exception:  # it validated a moment ago; a racing edit costs only the line number
        return 1
    return config_module.line_of(tree, loc)


def _move(config: config_module.Config, capability: str, verb: str) -> config_module.DataMove:
    capabilities = config.routes.capabilities
    if capability not in capabilities:
        known = ", ".join(capabilities) or "none"
        _fail(
            verb,
            f"unknown capability {capability!r} in {config.source} (known: {known})",
            EXIT_BAD_INPUT,
        )
    move = capabilities[capability].data
    if move is None:
        line = _line(config, ("capabilities", capability))
        print(
            f"{config.source}:{line}: capability {capability!r} has no 'data:' section "
            "(source, translate, target) to say how its rows move",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    return move


def _plugins(
    config: config_module.Config, capability: str, move: config_module.DataMove, verb: str
) -> tuple[RowSource, RowTranslator, RowTarget]:
    from acl.data import (
        DataMoveError,
        PluginNotFound,
        load_row_translator,
        load_source,
        load_target,
    )

    opened: list[RowSource | RowTarget] = []

    def bad(role: str, exc: PluginNotFound) -> NoReturn:
        for plugin in opened:
            plugin.close()
        line = _line(config, ("capabilities", capability, "data", role))
        print(
            f"{config.source}:{line}: capabilities.{capability}.data.{role}: {exc}",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_BAD_INPUT)

    try:
        try:
            translate = load_row_translator(move.translate)
        except PluginNotFound as exc:
            bad("translate", exc)
        try:
            source = load_source(move.source)
        except PluginNotFound as exc:
            bad("source", exc)
        opened.append(source)
        try:
            target = load_target(move.target)
        except PluginNotFound as exc:
            bad("target", exc)
    except DataMoveError as exc:
        for plugin in opened:
            plugin.close()
        _fail(verb, str(exc), EXIT_FAILURE)
    return source, translate, target


def _progress(description: str, *, quiet: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or not err.is_terminal,  # a bar in a log file is noise
    )


def _skipped_dict(skipped: Skipped) -> dict[str, str]:
    return {
        "key": skipped.key,
        "stage": skipped.stage,
        "field": skipped.field,
        "reason": skipped.reason,
    }


@data.command("copy")
def copy(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    batch_size: BatchOption = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="ignore the checkpoint of an unfinished copy")
    ] = False,
    max_batches: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="stop after this many batches; the next run resumes from the checkpoint",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Copy the capability's rows into its service's database.

    Idempotent upserts in batches, resumable from a checkpoint; rows that cannot be
    translated are reported by key and skipped."""
    from acl.data import DataMoveError
    from strangler.data.move import (
        Plugins,
        copy_rows,
        load_checkpoint,
        save_checkpoint,
        starting_point,
    )

    config = load_routes(routes_path(routes))
    move = _move(config, capability, "copy")
    path = checkpoint_path(config, capability)
    plugins = Plugins(move.source, move.translate, move.target)
    previous = None
    if not restart:
        try:
            previous = load_checkpoint(path)
        except ValueError as exc:
            _fail("copy", f"checkpoint {path}: {exc} (run with --restart)", EXIT_BAD_INPUT)
    try:
        start, resumed = starting_point(
            previous, capability=capability, plugins=plugins, restart=restart
        )
    except DataMoveError as exc:
        _fail("copy", f"checkpoint {path}: {exc}", EXIT_BAD_INPUT)
    source, translate, target = _plugins(config, capability, move, "copy")
    began = time.monotonic()
    try:
        with _progress(f"copy {capability}", quiet=as_json) as progress:
            task = progress.add_task("copy", total=source.count(), completed=start.read)
            result = copy_rows(
                source,
                translate,
                target,
                start=start,
                batch_size=batch_size or move.batch_size,
                save=lambda checkpoint: save_checkpoint(path, checkpoint),
                max_batches=max_batches,
                on_batch=lambda rows: progress.advance(task, rows),
            )
    except DataMoveError as exc:
        _fail("copy", f"{exc} (committed batches are kept: run again to resume)", EXIT_FAILURE)
    finally:
        source.close()
        target.close()
    elapsed = time.monotonic() - began
    if as_json:
        json.dump(_copy_dict(result, resumed, path, elapsed), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_copy(result, resumed, path, elapsed)
    if result.skipped:
        raise typer.Exit(EXIT_REFUSED)


def _copy_dict(result: Checkpoint, resumed: bool, path: Path, elapsed: float) -> dict[str, Any]:
    return {
        "capability": result.capability,
        "complete": result.complete,
        "resumed": resumed,
        "after": result.after,
        "batches": result.batches,
        "read": result.read,
        "written": result.written,
        "unchanged": result.unchanged,
        "skipped_count": len(result.skipped),
        "skipped": [_skipped_dict(s) for s in result.skipped],
        "checkpoint": str(path),
        "elapsed_s": round(elapsed, 3),
    }


def _print_copy(result: Checkpoint, resumed: bool, path: Path, elapsed: float) -> None:
    how = "resumed and copied" if resumed else "copied"
    print(
        f"{result.capability}: {how} {result.read} rows in {result.batches} batches "
        f"({elapsed:.1f} s): {result.written} written, {result.unchanged} unchanged, "
        f"{len(result.skipped)} skipped"
    )
    if result.skipped:
        print("skipped (not copied; fix them in the monolith and run copy again):")
        for skipped in result.skipped[:_SHOWN_SKIPPED]:
            print(f"  {skipped.key}  {skipped.stage}  {skipped.field}: {skipped.reason}")
        if len(result.skipped) > _SHOWN_SKIPPED:
            more = len(result.skipped) - _SHOWN_SKIPPED
            print(f"  ... and {more} more (all of them: --json, or {path})")
    if not result.complete:
        print(f"stopped after batch {result.batches}, at key {result.after!r}: run again to resume")
    print(f"checkpoint: {path}")


@data.command("verify")
def verify(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    batch_size: BatchOption = None,
    examples: Annotated[int, typer.Option(min=0, help="example keys shown per kind")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Compare the monolith's rows with the service's.

    Counts, and each translated legacy row against the service's row by checksum: missing,
    extra, different and untranslatable rows with example keys."""
    from acl.data import DataMoveError
    from strangler.data.move import verify_rows

    config = load_routes(routes_path(routes))
    move = _move(config, capability, "verify")
    source, translate, target = _plugins(config, capability, move, "verify")
    try:
        with _progress(f"verify {capability}", quiet=as_json) as progress:
            task = progress.add_task("verify", total=source.count())
            target.count()  # a service database that is not there fails here, plainly
            result = verify_rows(
                source,
                translate,
                target,
                batch_size=batch_size or move.batch_size,
                examples=examples,
                on_legacy_row=lambda: progress.advance(task),
            )
    except DataMoveError as exc:
        _fail("verify", str(exc), EXIT_FAILURE)
    finally:
        source.close()
        target.close()
    if as_json:
        json.dump({"capability": capability, **result.to_dict()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_verify(capability, result)
    if not result.equal:
        raise typer.Exit(EXIT_REFUSED)


def _print_verify(capability: str, result: Verification) -> None:
    print(
        f"{capability}: {result.legacy_rows} legacy rows, {result.service_rows} service rows: "
        f"{result.matched} equal, {result.missing} missing, {result.extra} extra, "
        f"{result.different} different, {result.untranslatable} untranslatable"
    )
    if result.missing_keys:
        print("missing from the service: " + ", ".join(result.missing_keys))
    if result.extra_keys:
        print("only in the service: " + ", ".join(result.extra_keys))
    for difference in result.different_rows:
        print(f"different: {difference.key} ({', '.join(difference.fields)})")
    for skipped in result.untranslatable_rows:
        print(f"untranslatable: {skipped.key}  {skipped.field}: {skipped.reason}")
    print("equal" if result.equal else "DIFFERENT")
