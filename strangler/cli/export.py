"""``strangler export envoy|nginx DIR [--explain]``: the data plane compiled for a team's own proxy.

Writes ``DIR/envoy.yaml`` (passes ``envoy --mode validate``) or ``DIR/nginx.conf`` (passes
``nginx -t -p DIR -c DIR/nginx.conf``; its pid, logs and temporary files live in DIR).
``--explain`` also lists what the target does differently from the Python facade for this
routes.yaml (docs/engines.md). Exit codes: 0 written; 2 bad arguments, a bad routes.yaml, or
one the target cannot express at all (the reason on stderr).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from facade.config import listen_address
from strangler.cli.support import EXIT_BAD_INPUT, RoutesOption, cli, load_routes, routes_path


def _fail(message: str) -> typer.Exit:
    print(f"strangler export: {message}", file=sys.stderr)
    return typer.Exit(EXIT_BAD_INPUT)


def _write(path: Path, text: str) -> None:
    """Atomically: a proxy watching the file never reads half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@cli.command()
def export(
    engine: Annotated[str, typer.Argument(help="envoy or nginx", show_default=False)],
    directory: Annotated[
        Path, typer.Argument(help="where to write envoy.yaml or nginx.conf", show_default=False)
    ],
    explain: Annotated[
        bool, typer.Option("--explain", help="also list what the target cannot express")
    ] = False,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT the proxy listens on")
    ] = "127.0.0.1:8080",
    admin_port: Annotated[
        int, typer.Option("--admin-port", help="Envoy's admin listener port (on loopback)")
    ] = 9901,
    facade_url: Annotated[
        str | None,
        typer.Option("--facade-url", help="a Python facade for capabilities with a translator"),
    ] = None,
    compare_url: Annotated[
        str | None,
        typer.Option("--compare-url", help="the compare service shadow traffic is mirrored to"),
    ] = None,
    access_log: Annotated[
        str | None,
        typer.Option(
            "--access-log",
            metavar="json",
            help="Envoy: log each request as one JSON object a line on stdout (the fields of "
            "serve --access-log json)",
            show_default=False,
        ),
    ] = None,
    routes: RoutesOption = None,
) -> None:
    """Write the data-plane configuration for your own Envoy or nginx."""
    # imported here, not with the verb: every other verb (validate, serve...) imports this
    # module to register it, and the exporters (with the metrics and the result store's
    # settings they read) were a fifth of what `strangler validate` imported
    from strangler import export as exporting

    if engine not in exporting.ENGINES:
        raise _fail(f"unknown target {engine!r}: expected envoy or nginx")
    target: exporting.Engine = "envoy" if engine == "envoy" else "nginx"
    try:
        address = listen_address(listen)
    except ValueError as exc:
        raise _fail(f"--listen: {exc}") from None
    if not 0 < admin_port < 65536:
        raise _fail(f"--admin-port: {admin_port} is not a port")
    if access_log is not None and (access_log != "json" or target != "envoy"):
        raise _fail(f"--access-log {access_log}: only json, and for envoy only")
    config = load_routes(routes_path(routes))
    options = exporting.Options(
        listen=address,
        admin_port=admin_port,
        facade_url=facade_url,
        compare_url=compare_url,
        access_log=access_log,
    )
    try:
        text = exporting.render(target, config, options)
        limits = exporting.explain(target, config, options) if explain else []
    except exporting.ExportError as exc:
        raise _fail(f"{config.source}: {target} cannot express this routes.yaml: {exc}") from None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / exporting.FILES[target]
        _write(path, text)
    except OSError as exc:
        raise _fail(f"cannot write into {directory}: {exc}") from None
    print(f"wrote {path}")
    if explain:
        print(f"what {target} does differently from the Python facade for {config.source}:")
        for limit in limits:
            print(f"  {limit}")
