"""`strangler status --facade`: breaker states scraped from a facade, or why they are not."""

from __future__ import annotations

import socket

from strangler.cli.serve import facade_breakers


def test_an_unreachable_facade_is_reported_not_raised() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    breakers, error = facade_breakers(f"http://127.0.0.1:{port}", "STRANGLER_ADMIN_TOKEN")
    assert breakers == {}
    assert error is not None
    assert error.startswith(f"cannot read http://127.0.0.1:{port}/metrics:")
