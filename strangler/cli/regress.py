"""``strangler regress``: the golden corpus checked outside pytest, for CI (docs/regress.md).

Each recorded exchange of ``--corpus`` is sent to a facade and its answer compared with the
recorded one by the parallel run's comparator, under the capability's ``compare:`` rules and
the corpus's ``corpus.yaml``. The facade is either one already running (``--base-url``) or a
stack this command starts from routes.yaml and the stack file, with ``--mode`` overrides, and
stops again (``regress.stack``).

Exit codes: 0 every case answered as recorded; 3 mismatches; 2 bad input (arguments, routes
file, stack file, corpus); 1 the stack could not start.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strangler.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_REFUSED,
    JsonOption,
    RoutesOption,
    cli,
    load_routes,
    routes_path,
)

if TYPE_CHECKING:
    from regress.check import Verdict
    from regress.corpus import Case


def _fail(message: str, code: int) -> typer.Exit:
    print(f"strangler regress: {message}", file=sys.stderr)  # one plain line: CI greps it
    return typer.Exit(code)


@cli.command()
def regress(
    corpus: Annotated[
        Path, typer.Option("--corpus", help="directory of golden recordings (*.har, *.flows)")
    ] = Path("tests/golden"),
    capability: Annotated[
        str | None, typer.Option("--capability", help="only this capability's cases")
    ] = None,
    mode: Annotated[
        list[str] | None,
        typer.Option(
            "--mode",
            help="with a started stack: [CAP=]MODE[:PERCENT], e.g. extracted or "
            "product-catalog=canary:50; repeatable",
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="check this running facade; start nothing"),
    ] = None,
    stack: Annotated[
        Path | None,
        typer.Option(
            "--stack", help="stack file (default: strangler-stack.toml beside routes.yaml)"
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="write a JUnit XML report")] = None,
    as_json: JsonOption = False,
    routes: RoutesOption = None,
) -> None:
    """Replay a golden corpus through the facade and compare; exit 3 on mismatches."""
    from regress import stackfile
    from regress.check import check, rules_for
    from regress.corpus import load_cases, load_manifest
    from regress.errors import RegressError, StackStartError
    from regress.junit import report_dict, write_junit
    from regress.stack import Stack, parse_modes

    path = routes_path(routes)
    config = load_routes(path)
    if capability is not None and capability not in config.routes.capabilities:
        known = ", ".join(config.routes.capabilities) or "none"
        raise _fail(f"no capability {capability!r} in {path} (known: {known})", EXIT_BAD_INPUT)
    if base_url is not None and mode:
        raise _fail("--mode changes a stack this command starts: not with --base-url", 2)
    try:
        modes = parse_modes(mode or [])
        manifest = load_manifest(corpus)
        cases = load_cases(corpus, config, capability=capability)
    except (ValueError, RegressError) as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    runnable = [c for c in cases if c.skip_reason is None]
    skipped = [c for c in cases if c.skip_reason is not None]
    if not runnable:
        where = f" of {capability}" if capability else ""
        raise _fail(f"no golden cases{where} in {corpus}", EXIT_BAD_INPUT)

    def run(url: str) -> list[Verdict]:
        return [check(c, url, rules_for(config, c.capability, manifest)) for c in runnable]

    if base_url is not None:
        url = base_url.rstrip("/")
        verdicts = run(url)
    else:
        try:
            spec = stackfile.load(stack or path.parent / stackfile.DEFAULT_NAME)
        except RegressError as exc:
            raise _fail(str(exc), EXIT_BAD_INPUT) from None
        with tempfile.TemporaryDirectory(prefix="strangler-regress-") as state:
            started = Stack(path, spec, state_dir=Path(state), modes=modes)
            try:
                with started:
                    url = started.url
                    verdicts = run(url)
            except StackStartError as exc:
                raise _fail(str(exc), EXIT_FAILURE) from None
            except RegressError as exc:
                raise _fail(str(exc), EXIT_BAD_INPUT) from None
    if junit is not None:
        write_junit(junit, verdicts, skipped)
    failed = [v for v in verdicts if not v.passed]
    if as_json:
        print(json.dumps(report_dict(verdicts, skipped, corpus=corpus, base_url=url), indent=2))
    else:
        _print(verdicts, failed, skipped)
    if failed:
        raise typer.Exit(EXIT_REFUSED)


def _print(verdicts: list[Verdict], failed: list[Verdict], skipped: list[Case]) -> None:
    for verdict in failed:
        print(f"FAIL {verdict.case.id}")
        print("\n".join(f"  {line}" for line in _explained(verdict)))
    for case in skipped:
        print(f"SKIP {case.id}: {case.skip_reason}")
    passed = len(verdicts) - len(failed)
    tail: Any = f", {len(skipped)} skipped" if skipped else ""
    print(f"golden: {passed} passed, {len(failed)} failed{tail}")


def _explained(verdict: Verdict) -> list[str]:
    from regress.check import explain

    return explain(verdict).splitlines()
