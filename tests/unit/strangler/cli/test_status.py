"""`strangler status`: breaker states scraped from a facade (or why they are not), and the
data sync column."""

from __future__ import annotations

import socket

import pytest

from strangler.cli.serve import facade_breakers, sync_cell


def test_an_unreachable_facade_is_reported_not_raised() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    breakers, error = facade_breakers(f"http://127.0.0.1:{port}", "STRANGLER_ADMIN_TOKEN")
    assert breakers == {}
    assert error is not None
    assert error.startswith(f"cannot read http://127.0.0.1:{port}/metrics:")


def direction(name: str = "forward", **overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "direction": name, "lag_seconds": 0.42, "pending": 3, "parked": 0, "conflicts": 0,
        "last_error": None, "heartbeat_age_s": 1.2, "running": True, "capture": "installed",
    }  # fmt: skip
    fields.update(overrides)
    return fields


@pytest.mark.parametrize(
    ("sync", "cell"),
    [
        (None, "-"),
        ({"directions": [], "verify": None}, "no relay\nnot verified"),
        (
            {"directions": [direction(), direction("back", lag_seconds=1.2, conflicts=2)],
             "verify": {"equal": True}},
            "fwd 0.4s · 0 parked\nback 1.2s · 0 parked · 2 conflicts\nverify clean",
        ),
        (
            {"directions": [direction(parked=2, capture="missing")], "verify": {"equal": False}},
            "fwd 0.4s · 2 parked · capture missing\nverify dirty",
        ),
        (
            {"directions": [direction(running=False, heartbeat_age_s=94.4)], "verify": None},
            "fwd stopped (94s ago)\nnot verified",
        ),
    ],
)  # fmt: skip
def test_the_sync_column_shows_lag_parked_and_conflicts_per_direction(
    sync: dict[str, object] | None, cell: str
) -> None:
    assert sync_cell(sync) == cell
