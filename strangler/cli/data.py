"""``strangler data copy CAP`` and ``strangler data verify CAP``: a capability's rows, moved.

The plugins come from ``capabilities.CAP.data`` in routes.yaml (``source``, ``translate``,
``target``, ``batch_size``; ``sync`` for capture, sync and status) and are imported only when
a verb runs: the facade never imports the monolith or a service. The engines are
``strangler.data.move`` (copy, verify) and ``strangler.data.relay`` (sync).

Exit codes: 0 done (copy: nothing skipped; verify: both sides equal; status: always), 1 a
source or target failed (sync --once: still failing after its back-off), 2 bad input (unknown
capability, no ``data:`` or ``data.sync:``, a plugin that cannot load, a bad checkpoint), 3 copy
skipped rows (each reported by key), verify found differences, or ``sync --retry-parked``
parked a row again.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from facade import config as config_module
from strangler.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_REFUSED,
    JsonOption,
    RoutesOption,
    cli,
    err,
    load_routes,
    open_store,
    routes_path,
)

if TYPE_CHECKING:
    from rich.progress import Progress

    from acl.data import RowSource, RowTarget, RowTranslator
    from parallel_run.store import ResultStore
    from strangler.data.health import StoreHealth
    from strangler.data.move import Checkpoint, Skipped, Verification
    from strangler.data.plan import Direction, PlanError, SyncPlan
    from strangler.data.sync import OpenRelay
    from strangler_sync import CaptureState

data = typer.Typer(
    name="data",
    help="Move a capability's rows into its service's database through the ACL, and verify.",
    no_args_is_help=True,
)
cli.add_typer(data, name="data")

CapabilityArgument = Annotated[
    str, typer.Argument(help="a capability of routes.yaml with a 'data:' section")
]
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
    if result.complete and move.sync is not None:
        _restamp(config, capability, getattr(target, "url", None))
    elapsed = time.monotonic() - began
    if as_json:
        json.dump(_copy_dict(result, resumed, path, elapsed), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_copy(result, resumed, path, elapsed)
    if result.skipped:
        raise typer.Exit(EXIT_REFUSED)


def _restamp(config: config_module.Config, capability: str, url: object) -> None:
    """After a full copy the service's sync ledger takes the current capture epoch, so that
    ``data status`` stops asking for a copy once the capture was re-created."""
    from strangler.data.plan import plan_for
    from strangler.data.sync import restamp_after_copy

    if not isinstance(url, str):
        return
    try:
        restamp_after_copy(config, plan_for(config, capability), url)
    except Exception as exc:  # the copy is done; status keeps saying a copy is due
        print(
            f"strangler data copy: warning: the sync ledger was not updated: {_error_text(exc)}",
            file=sys.stderr,
        )


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
    _record_verification(config, capability, result)
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


# -- recording a verify's result for the gate ------------------------------------------------


def _record_verification(
    config: config_module.Config, capability: str, result: Verification
) -> None:
    """Keep the result where ``cutover`` looks for it. A store that cannot be written costs a
    warning, never the verify's exit code: the comparison itself is what the user asked for."""
    from datetime import UTC, datetime

    from facade.config.evidence import store_settings
    from parallel_run.store import open_store
    from parallel_run.sync_evidence import Verification as Recorded
    from parallel_run.sync_evidence import record_verification

    counts = {
        "source": result.legacy_rows,
        "target": result.service_rows,
        "same": result.matched,
        "different": result.different,
        "missing": result.missing,
        "extra": result.extra,
        "untranslatable": result.untranslatable,
    }
    examples: list[Mapping[str, object]] = []
    examples += ({"key": k, "kind": "missing"} for k in result.missing_keys)
    examples += ({"key": k, "kind": "extra"} for k in result.extra_keys)
    examples += (
        {"key": d.key, "kind": "different", "fields": list(d.fields)} for d in result.different_rows
    )
    try:
        store = open_store(store_settings(config))
        try:
            record_verification(
                store,
                Recorded(capability, datetime.now(UTC), result.equal, counts, examples[:20]),
            )
        finally:
            store.close()
    except Exception as exc:
        err.print(
            f"strangler data verify: warning: the result was not recorded in the result store "
            f"({type(exc).__name__}: {exc}); cutover will not see it",
            markup=False,
        )


# -- keeping both sides in step: capture, sync, status ---------------------------------------


def _plan(config: config_module.Config, capability: str) -> SyncPlan:
    from strangler.data.plan import PlanError, plan_for

    try:
        return plan_for(config, capability)
    except PlanError as exc:
        _plan_problem(config, exc, capability)


def _plan_problem(config: config_module.Config, exc: PlanError, capability: str) -> NoReturn:
    # a problem with no place of its own (an unknown capability) is named where the
    # capability's sync would be: the nearest line routes.yaml has of it
    loc = exc.loc or ("capabilities", capability, "data", "sync")
    print(f"{config.source}:{_line(config, loc)}: {exc}", file=sys.stderr)
    raise typer.Exit(EXIT_BAD_INPUT)


@data.command("capture")
def capture(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    remove: Annotated[bool, typer.Option("--remove", help="drop the capture triggers")] = False,
    drop_outbox: Annotated[
        bool,
        typer.Option(
            "--drop-outbox",
            help="with --remove: also forget the outbox's rows and epoch (data copy again after)",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Install (or --remove) the capability's change capture in the monolith's database.

    Triggers on the tables data.sync.capture names write every change into an outbox in the
    same transaction, whatever wrote it (ORM, raw SQL, the admin). Idempotent."""
    from sqlalchemy.exc import SQLAlchemyError

    from acl.data import DataMoveError
    from strangler.data.plan import PlanError
    from strangler.data.sync import engine_for, load_capture
    from strangler_sync import SqlAlchemyTx, SyncError, install
    from strangler_sync import remove as remove_capture

    if drop_outbox and not remove:
        _fail("capture", "--drop-outbox goes with --remove", EXIT_BAD_INPUT)
    config = load_routes(routes_path(routes))
    plan = _plan(config, capability)
    try:
        spec_and_url = load_capture(plan)
    except PlanError as exc:
        _plan_problem(config, exc, capability)
    except (DataMoveError, SyncError) as exc:
        _fail("capture", str(exc), EXIT_FAILURE)
    engine = engine_for(spec_and_url.url)
    try:
        with engine.begin() as connection:
            tx = SqlAlchemyTx(connection)
            if remove:
                state = remove_capture(tx, spec_and_url.spec, drop_outbox=drop_outbox)
            else:
                state = install(tx, spec_and_url.spec)
    except (SyncError, SQLAlchemyError) as exc:
        _fail("capture", f"{type(exc).__name__}: {exc}", EXIT_FAILURE)
    finally:
        engine.dispose()
    tables = ", ".join(t.name for t in spec_and_url.spec.tables)
    if as_json:
        json.dump({**_state_dict(state), "tables": tables.split(", ")}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{capability}: capture {state.state} on {tables} (epoch {state.epoch or '-'})")
    if not remove and state.state != "installed":
        raise typer.Exit(EXIT_FAILURE)


def _state_dict(state: CaptureState) -> dict[str, Any]:
    return {
        "capability": state.capability,
        "state": state.state,
        "epoch": state.epoch,
        "missing_triggers": list(state.missing_triggers),
        "pending": state.pending,
        "parked": state.parked,
    }


@data.command("sync")
def sync(
    capability: CapabilityArgument,
    routes: RoutesOption = None,
    once: Annotated[bool, typer.Option("--once", help="apply what is pending, then exit")] = False,
    direction: Annotated[
        str | None,
        typer.Option(
            help="forward (monolith -> service) or back (service -> monolith); default: what "
            "the capability's mode needs",
            show_default=False,
        ),
    ] = None,
    retry_parked: Annotated[
        bool,
        typer.Option(
            "--retry-parked", help="try parked rows again, then exit (3 if any is parked again)"
        ),
    ] = False,
    keys: Annotated[
        list[str] | None,
        typer.Option("--key", help="with --retry-parked: only this key (repeatable)"),
    ] = None,
    metrics_listen: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="serve /metrics on HOST:PORT (port 0: any free one)",
            show_default=False,
        ),
    ] = None,
    batch_size: BatchOption = None,
) -> None:
    """Follow the capability's captured changes and apply them to the other side.

    Forward in shadow, canary and extracted; the way back too in canary and extracted when
    data.sync.back is set. Runs until SIGTERM or SIGINT, which finish the current batch."""
    import signal
    import threading

    from acl.data import DataMoveError
    from facade.config import load as load_config
    from strangler.data.metrics import SyncMetrics, parse_listen, serve
    from strangler.data.plan import DIRECTIONS, PlanError, PlanReader
    from strangler.data.sync import Runner, load_capture, open_relay

    if direction is not None and direction not in DIRECTIONS:
        _fail("sync", f"--direction is forward or back, not {direction!r}", EXIT_BAD_INPUT)
    if keys and not retry_parked:
        _fail("sync", "--key goes with --retry-parked", EXIT_BAD_INPUT)
    listen = None
    if metrics_listen is not None:
        try:
            listen = parse_listen(metrics_listen)
        except ValueError as exc:
            _fail("sync", f"--metrics: {exc}", EXIT_BAD_INPUT)
    path = routes_path(routes)
    config = load_routes(path)
    _plan(config, capability)
    reader = PlanReader(path, capability, load_config)
    only: Direction | None = "back" if direction == "back" else "forward" if direction else None
    if only in reader.plan.closed:
        from strangler.lifecycle.steps import retired_refusal

        _fail("sync", f"--direction {only}: {retired_refusal(capability)}", EXIT_REFUSED)
    wanted = (only,) if only else reader.plan.needed
    if only and only not in reader.plan.configured:
        from strangler.data.plan import direction_plan

        try:
            direction_plan(config, capability, only)
        except PlanError as exc:
            _plan_problem(config, exc, capability)
    try:
        load_capture(reader.plan)  # a bad plugin is an error now, even in a mode that waits
    except PlanError as exc:
        _plan_problem(config, exc, capability)
    except Exception as exc:
        _fail("sync", f"data.sync.capture: {type(exc).__name__}: {exc}", EXIT_FAILURE)
    registry = SyncMetrics() if listen else None
    if listen and registry:
        try:
            server = serve(registry, *listen)
        except OSError as exc:
            _fail("sync", f"--metrics {metrics_listen}: {exc}", EXIT_FAILURE)
        err.print(
            f"strangler data sync {capability}: metrics on "
            f"http://{listen[0]}:{server.server_port}/metrics",
            markup=False,
            highlight=False,
        )
    health, store = _health(config)
    log = _logger(capability)

    def open_direction(d: Direction) -> OpenRelay:
        return open_relay(
            config, reader, d, batch_size=batch_size, metrics=registry, health=health, log=log
        )

    opened: dict[Direction, OpenRelay] = {}
    stop = threading.Event()
    try:
        for d in wanted:
            try:
                opened[d] = open_direction(d)
            except PlanError as exc:
                _plan_problem(config, exc, capability)
            except DataMoveError as exc:
                _fail("sync", f"{d}: {exc}", EXIT_FAILURE)
        if retry_parked or once:
            if not wanted:
                print(f"{capability}: mode {reader.plan.mode} runs no sync direction (--direction)")
            code = _drain(capability, opened, retry_parked=retry_parked, keys=keys or None)
            raise typer.Exit(code)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if not wanted:
            log(f"mode {reader.plan.mode} runs no direction yet: waiting for routes.yaml")
        runner = Runner(reader, only, open_direction, log, opened=opened)
        runner.run(stop)
        opened = {}  # the runner closed them
        for relay_handle in runner.opened.values():
            relay = relay_handle.relay
            log(
                f"{relay.name}: stopped: applied {relay.applied_total}, "
                f"conflicts {relay.conflicts_total}"
            )
        if runner.crashed:
            raise typer.Exit(EXIT_FAILURE)
    finally:
        for handle in opened.values():
            handle.close()
        if store is not None:
            store.close()


def _drain(
    capability: str,
    opened: Mapping[Direction, OpenRelay],
    *,
    retry_parked: bool,
    keys: list[str] | None,
) -> int:
    import threading

    from strangler.data.faults import BatchFailed
    from strangler.data.relay import RelayBusy

    parked_again = 0
    for d, handle in opened.items():
        relay = handle.relay
        if retry_parked:
            count = handle.outbox.unpark(keys)
            print(f"{capability} {d}: {count} parked entries to try again")
        try:
            relay.follow(threading.Event(), until_idle=True, give_up=_ONCE_GIVE_UP)
        except (BatchFailed, RelayBusy) as exc:
            print(f"strangler data sync {capability}: {d}: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        still = [p for p in handle.outbox.parked(limit=1000) if keys is None or p[1] in keys]
        parked_again += len(still)
        print(
            f"{capability} {d}: applied {relay.applied_total}, conflicts "
            f"{relay.conflicts_total}, parked {len(still)}"
        )
        for seq, key, stage, field_, reason, attempts in still[:_SHOWN_SKIPPED]:
            print(f"  parked {key} (seq {seq}, {attempts} tries)  {stage}  {field_}: {reason}")
    if retry_parked and parked_again:
        return EXIT_REFUSED
    return 0


_ONCE_GIVE_UP = 10  # failed batches in a row, without progress, before --once gives up


def _logger(capability: str) -> Callable[[str], None]:
    def log(line: str) -> None:
        prefix = f"strangler data sync {capability}: "
        print(
            line if line.startswith("strangler data sync") else prefix + line,
            file=sys.stderr,
            flush=True,
        )

    return log


def _health(config: config_module.Config) -> tuple[StoreHealth | None, ResultStore | None]:
    """The result store for heartbeats; without one the sync runs, and says so once."""
    from facade.config.evidence import store_settings
    from parallel_run.store import open_store
    from strangler.data.health import StoreHealth

    try:
        store = open_store(store_settings(config))
    except Exception as exc:
        err.print(
            f"strangler data sync: warning: no result store ({type(exc).__name__}: {exc}); "
            "status and cutover will not see this relay",
            markup=False,
        )
        return None, None
    return StoreHealth(store, log=lambda line: print(line, file=sys.stderr)), store


@data.command("status")
def status(
    capability: Annotated[
        str | None, typer.Argument(help="one capability (default: all with data.sync)")
    ] = None,
    routes: RoutesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Capture state, pending, parked rows and lag per direction, conflicts and the last verify.

    A report: it exits 0 however the sync stands (cutover is the gate)."""
    config = load_routes(routes_path(routes))
    if capability is None:
        names = [
            name
            for name, cap in config.routes.capabilities.items()
            if cap.data is not None and cap.data.sync is not None
        ]
    else:
        _plan(config, capability)
        names = [capability]
    store = open_store(config)
    try:
        reports = [_status_of(config, name, store) for name in names]
    finally:
        if store is not None:
            store.close()
    if as_json:
        json.dump({"capabilities": reports}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    if not reports:
        print(f"no capability of {config.source} has data.sync")
    for report in reports:
        _print_status(report)


def _status_of(
    config: config_module.Config, capability: str, store: ResultStore | None
) -> dict[str, Any]:
    """Everything ``data status`` shows of one capability; a part that cannot be read says
    why in its place (a report never fails for one database)."""
    from strangler.data.plan import DIRECTIONS, direction_plan, plan_for
    from strangler.data.sync import (
        capture_state,
        engine_for,
        load_capture,
        outbox_url,
        stale_epochs,
    )
    from strangler_sync import ChangeLog

    plan = plan_for(config, capability)
    report: dict[str, Any] = {
        "capability": capability,
        "mode": plan.mode,
        "owner": plan.owner,
        "running": list(plan.needed),
    }
    try:
        cap = load_capture(plan)
        engine = engine_for(cap.url)
        try:
            report["capture"] = _state_dict(capture_state(engine, cap))
        finally:
            engine.dispose()
    except Exception as exc:
        report["capture"] = {"state": "unknown", "error": _error_text(exc)}
    heartbeats = _from_store(store, "health_of", capability)
    directions = []
    for d in DIRECTIONS:
        if d not in plan.configured:
            continue
        entry: dict[str, Any] = {"direction": d}
        try:
            aggregate = direction_plan(config, capability, d).aggregate
            engine = engine_for(outbox_url(plan, d))
            try:
                outbox = ChangeLog(engine, aggregate=aggregate, direction=d, holder="status")
                stats = outbox.stats()
                entry.update(
                    pending=stats.pending,
                    parked=stats.parked,
                    lag_seconds=(
                        0.0
                        if stats.oldest_pending_at is None
                        else round(max(0.0, time.time() - stats.oldest_pending_at), 3)
                    ),
                    parked_rows=[
                        {
                            "seq": seq,
                            "key": key,
                            "stage": stage,
                            "field": f,
                            "reason": reason,
                            "attempts": attempts,
                        }
                        for seq, key, stage, f, reason, attempts in outbox.parked(limit=50)
                    ],
                )
            finally:
                engine.dispose()
        except Exception as exc:
            entry["error"] = _error_text(exc)
        if d == "forward":
            try:
                entry["capture_recreated"] = bool(stale_epochs(config, plan))
            except Exception:
                entry["capture_recreated"] = None  # the service is not readable: unknown
        beats = [h for h in heartbeats or () if h.direction == d]
        if beats:
            newest = beats[0]
            entry["relay"] = {
                "name": newest.relay,
                "heartbeat_age_s": round(time.time() - newest.at.timestamp(), 1),
                "applied_total": newest.applied_total,
                "conflicts_total": newest.conflicts_total,
                "last_error": newest.last_error,
            }
        directions.append(entry)
    report["directions"] = directions
    last = _from_store(store, "conflicts", capability)
    report["conflicts"] = [
        {"key": c.key, "at": c.at.isoformat(), "winner": c.winner, "target_seq": c.target_seq}
        for c in last or ()
    ]
    verification = _from_store(store, "latest_verification", capability)
    report["verify"] = (
        None
        if verification is None
        else {
            "at": verification.at.isoformat(),
            "equal": verification.equal,
            "counts": dict(verification.counts),
        }
    )
    return report


def _from_store(store: ResultStore | None, what: str, capability: str) -> Any:
    """One read of ``parallel_run.sync_evidence``; None when there is no store or it fails."""
    if store is None:
        return None
    from parallel_run import sync_evidence

    try:
        return getattr(sync_evidence, what)(store, capability)
    except Exception:
        return None


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def _print_status(report: dict[str, Any]) -> None:
    capture = report["capture"]
    line = (
        f"{report['capability']}: mode {report['mode']} (owner {report['owner']}), "
        f"capture {capture['state']}"
    )
    if capture.get("error"):
        line += f" ({capture['error']})"
    elif capture.get("missing_triggers"):
        line += f" (missing: {', '.join(capture['missing_triggers'])}: run strangler data capture)"
    print(line)
    for d in report["directions"]:
        running = "running" if d["direction"] in report["running"] else "not run in this mode"
        if "error" in d:
            print(f"  {d['direction']}: {running}; outbox unreadable: {d['error']}")
            continue
        relay = d.get("relay")
        beat = (
            f"relay {relay['name']} seen {relay['heartbeat_age_s']} s ago"
            + (f", last error: {relay['last_error']}" if relay["last_error"] else "")
            if relay
            else "no relay heartbeat"
        )
        print(
            f"  {d['direction']}: {running}; lag {d['lag_seconds']:.1f} s, "
            f"{d['pending']} pending, {d['parked']} parked; {beat}"
        )
        if d.get("capture_recreated"):
            print(f"    capture re-created: run `strangler data copy {report['capability']}` once")
        for p in d["parked_rows"][:_SHOWN_SKIPPED]:
            print(
                f"    parked {p['key']}  {p['stage']}  {p['field']}: {p['reason']} "
                f"({p['attempts']} tries)"
            )
    for c in report["conflicts"]:
        print(f"  conflict {c['key']} at {c['at']}: {c['winner']} won")
    verify = report["verify"]
    if verify is None:
        print("  no data verify recorded")
    else:
        print(f"  last verify {verify['at']}: {'equal' if verify['equal'] else 'DIFFERENT'}")
