"""`strangler compare-service`: the process an Envoy or nginx mirror sends its copies to
(compare_service: it answers each at once and compares in the background)."""

from __future__ import annotations

from typing import Annotated

import typer

from strangler.cli.support import EXIT_FAILURE, RoutesOption, cli, err, load_routes, routes_path


@cli.command("compare-service")
def compare_service(
    routes: RoutesOption = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8090,
    queue: Annotated[
        int, typer.Option(min=1, help="mirrored requests waiting for the monolith, at most")
    ] = 1024,
    queue_mb: Annotated[
        float, typer.Option(min=0.001, help="MiB of their request bodies, at most")
    ] = 64.0,
    host_suffix: Annotated[
        str,
        typer.Option(
            help="removed from the end of a copy's Host, e.g. -shadow for an Envoy mirror "
            "that appends it (the export disables it); default: the Host as it is"
        ),
    ] = "",
) -> None:
    """Compare mirrored requests: answer 202 at once, then ask the monolith and the candidate
    service and record the comparison (capabilities in shadow mode only)."""
    from functools import partial

    from compare_service.server import CompareOptions, run
    from facade.server import ParserError, configure_logging
    from strangler import audit

    configure_logging()
    path = routes_path(routes)
    config = load_routes(path)  # config errors as PATH:LINE before anything starts
    options = CompareOptions(
        path,
        host,
        port,
        max_pending=queue,
        max_pending_bytes=int(queue_mb * 1024**2),
        host_suffix=host_suffix,
        # which routes.yaml this compare service runs goes to the audit trail
        reload_hooks=(partial(audit.replica_hook, "compare", f"{host}:{port}"),),
    )
    try:
        run(options, config)
        audit.replica_stopped(config, engine="compare", listen=f"{host}:{port}")
    except ParserError as exc:
        err.print(f"strangler compare-service: {exc}", markup=False)
        raise typer.Exit(EXIT_FAILURE) from None
    except OSError as exc:
        err.print(
            f"strangler compare-service: cannot listen on {host}:{port}: {exc.strerror}",
            markup=False,
        )
        raise typer.Exit(EXIT_FAILURE) from None
