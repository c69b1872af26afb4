"""`strangler replay FILE`: recorded traffic through the comparator (see ``strangler.replay``).

Exit codes: 0 every comparison matched; 3 mismatches or candidate errors were found (as
``regress``); 2 bad input: an unknown capability, a file that cannot be read, or a damaged
recording (the entries before the damage were still replayed and stored); 1 a monolith that
answered none of the requests, or an unexpected failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strangler.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_REFUSED,
    JsonOption,
    RoutesOption,
    cli,
    err,
    load_routes,
    out_console,
    routes_path,
)

if TYPE_CHECKING:
    from strangler.replay import ReplayTally

EXIT_MISMATCHES = EXIT_REFUSED  # 3, as `regress` exits on mismatches


def _say(message: str) -> None:
    # plain, unwrapped lines on stderr: scripts and CI grep them (rich wraps at 80 columns)
    print(message, file=sys.stderr)


def check_record_target(path: Path) -> None:
    """``serve --record FILE``: exit 2 unless the extra is installed and FILE can be appended."""
    from parallel_run.errors import RecordExtraMissing
    from parallel_run.flowfile import require_mitmproxy

    try:
        require_mitmproxy()
    except RecordExtraMissing as exc:
        _say(f"strangler serve: --record: {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        _say(f"strangler serve: --record: cannot write {path}: {exc.strerror}")
        raise typer.Exit(EXIT_BAD_INPUT) from None


@cli.command()
def replay(
    file: Annotated[
        Path, typer.Argument(help="a mitmproxy flow file, a HAR file or a GoReplay .gor file")
    ],
    routes: RoutesOption = None,
    capability: Annotated[
        str | None,
        typer.Option(help="replay only this capability's requests", show_default=False),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1024, help="requests in flight")] = 8,
    rate: Annotated[
        float | None,
        typer.Option(min=0.001, help="at most this many requests per second", show_default=False),
    ] = None,
    against_recorded: Annotated[
        bool,
        typer.Option(
            "--against-recorded", help="compare with the recorded answers; the monolith is idle"
        ),
    ] = False,
    include_unsafe: Annotated[
        bool, typer.Option("--include-unsafe", help="also replay POST, PUT, PATCH, DELETE...")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Replay recorded traffic to the monolith and each capability's service, compare the
    answers as shadow mode does, and store the results under a new run id."""
    import asyncio
    import secrets
    from datetime import UTC, datetime

    from facade.config.evidence import store_settings
    from parallel_run.errors import RecordExtraMissing, TrafficFileError
    from parallel_run.replay import read_exchanges
    from parallel_run.store import open_store
    from strangler.replay import Replayer, ReplayOptions

    config = load_routes(routes_path(routes))
    known = config.routes.capabilities
    if capability is not None and capability not in known:
        _say(
            f"strangler replay: unknown capability {capability!r} in {config.source}"
            f" (known: {', '.join(known) or 'none'})"
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if not file.is_file():
        _say(f"strangler replay: {file}: no such file")
        raise typer.Exit(EXIT_BAD_INPUT)
    run_id = f"replay-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    try:
        store = open_store(store_settings(config))
    except Exception as exc:
        _say(f"strangler replay: cannot open the result store: {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    options = ReplayOptions(
        run_id=run_id,
        capability=capability,
        concurrency=concurrency,
        rate=rate,
        against_recorded=against_recorded,
        include_unsafe=include_unsafe,
    )
    progress = _progress(enabled=not as_json and err.is_terminal)
    try:
        with progress as bar:
            task = bar.add_task("replaying", total=None)

            def on_progress(tally: ReplayTally) -> None:
                bar.update(
                    task,
                    completed=tally.compared + sum(tally.skipped.values()),
                    description=f"replaying: {tally.compared} compared, {tally.failed} differ",
                )

            replayer = Replayer(config, options, store=store, on_progress=on_progress)
            tally = asyncio.run(replayer.run(read_exchanges(file)))
    except RecordExtraMissing as exc:
        _say(f"strangler replay: {file}: {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except TrafficFileError as exc:  # raised before any entry could be read
        print(f"strangler replay: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except OSError as exc:
        _say(f"strangler replay: cannot read {file}: {exc.strerror}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    finally:
        store.close()
    summary = tally_dict(tally, file=file)
    if as_json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_summary(summary)
    if tally.stopped is not None:
        print(f"strangler replay: {tally.stopped}", file=sys.stderr)  # one line, never wrapped
        raise typer.Exit(EXIT_BAD_INPUT)
    if tally.monolith_failures and not tally.compared:
        _say(
            f"strangler replay: the monolith answered none of the {tally.monolith_failures}"
            f" requests ({config.routes.legacy.url}): nothing was compared"
        )
        raise typer.Exit(EXIT_FAILURE)
    raise typer.Exit(EXIT_MISMATCHES if tally.failed else EXIT_OK)


class _NoProgress:
    """Stands in for rich's Progress when stderr is not a terminal (CI logs, --json)."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None) -> int:
        return 0

    def update(self, task: int, **fields: Any) -> None:
        return None


def _progress(*, enabled: bool) -> Any:
    if not enabled:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )


def tally_dict(tally: ReplayTally, *, file: Path) -> dict[str, Any]:
    """The replay's summary, as ``--json`` prints it."""
    elapsed = tally.elapsed
    return {
        "run": tally.run_id,
        "file": str(file),
        "read": tally.read,
        "compared": tally.compared,
        "mismatches": sum(c.outcomes["mismatch"] for c in tally.capabilities.values()),
        "candidate_errors": sum(c.outcomes["candidate_error"] for c in tally.capabilities.values()),
        "stored": tally.stored,
        "skipped": dict(tally.skipped.most_common()),
        "stopped": None
        if tally.stopped is None
        else {
            "where": tally.stopped.where,
            "reason": tally.stopped.reason,
            "read": tally.stopped.read,
        },
        "elapsed_s": round(elapsed, 3),
        "compared_per_second": round(tally.compared / elapsed, 1) if elapsed > 0 else None,
        "capabilities": [
            {
                "name": name,
                "compared": cap.compared,
                "matches": cap.outcomes["match"],
                "mismatches": cap.outcomes["mismatch"],
                "candidate_errors": cap.outcomes["candidate_error"],
                "top_paths": [
                    {"path": path, "count": count, "example_id": cap.example[path]}
                    for path, count in cap.paths.most_common(10)
                ],
            }
            for name, cap in sorted(tally.capabilities.items())
        ],
    }


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = out_console()
    table = Table(title=f"replay run {summary['run']} ({summary['file']})")
    table.add_column("capability")
    for column in ("compared", "match", "mismatch", "candidate errors"):
        table.add_column(column, justify="right")
    table.add_column("top differing paths")
    for cap in summary["capabilities"]:
        table.add_row(
            Text(cap["name"]),
            str(cap["compared"]),
            str(cap["matches"]),
            str(cap["mismatches"]),
            str(cap["candidate_errors"]),
            Text("\n".join(f"{p['path']} ({p['count']})" for p in cap["top_paths"][:5]) or "-"),
        )
    console.print(table)
    if summary["skipped"]:
        skipped = Table(title="skipped", title_justify="left")
        skipped.add_column("reason")
        skipped.add_column("count", justify="right")
        for reason, count in summary["skipped"].items():
            skipped.add_row(Text(reason), str(count))
        console.print(skipped)
    rate = summary["compared_per_second"]
    console.print(
        Text(
            f"{summary['read']} read, {summary['compared']} compared in {summary['elapsed_s']}s"
            + (f" ({rate}/s)" if rate else "")
            + f"; details: strangler report --run {summary['run']}"
        )
    )
