"""The way back closes with `strangler retire`, on the shop's real databases: a running
`strangler data sync inventory --direction back` reads routes.yaml before each batch, so once
the capability is retired it drains, stops and exits by itself; started again it is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_data_sync_sides import STRANGLER, data, environment
from tests.e2e.test_data_sync_sides import place as place  # the shop's databases, routes.yaml
from tests.support.probe import wait_until

pytestmark = pytest.mark.e2e
DEADLINE = 60  # seconds; generous on a loaded machine


def test_a_running_back_relay_stops_once_the_capability_is_retired(place: Path) -> None:
    data(place, "copy", "inventory")
    data(place, "capture", "inventory")
    routes = place / "routes.yaml"
    log = place / "relay.log"
    command = [STRANGLER, "--routes", str(routes), "data", "sync", "inventory"]
    with log.open("ab") as out:
        relay = subprocess.Popen(
            [*command, "--direction", "back"],
            cwd=place,
            env=environment(place),
            stdout=out,
            stderr=out,
        )
    try:
        wait_until(
            lambda: ": following" in log.read_text() or relay.poll() is not None,
            "the back relay follows",
            timeout=DEADLINE,
        )
        assert relay.poll() is None, log.read_text()

        # what `strangler retire --force` writes, here by hand: the relay reads the file
        text = routes.read_text()
        routes.write_text(
            text.replace(
                "    mode: canary\n",
                "    mode: extracted\n    retired: true\n    fallback: error\n",
            )
        )

        assert relay.wait(timeout=DEADLINE) == 0, log.read_text()
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait(timeout=30)
    assert "back: closed by routes.yaml (the capability is retired: no way back)" in (
        log.read_text()
    )
    refused = data(place, "sync", "inventory", "--direction", "back", "--once", code=3)
    assert refused == ""
