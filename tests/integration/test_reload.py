"""Hot reload against a running facade: a request in flight finishes on the configuration it
started with, while the next one already follows the new file."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import processes

pytestmark = pytest.mark.integration


def server_of(url: str) -> str:
    with urllib.request.urlopen(url, timeout=15) as response:
        return str(json.loads(response.read())["server"])


def test_a_request_in_flight_finishes_on_the_config_it_started_with(
    tmp_path: Path, echo_legacy: processes.Running
) -> None:
    service = processes.echo_upstream("catalog", log_dir=tmp_path)
    routes = processes.write_routes(
        tmp_path / "routes.yaml",
        echo_legacy.url,
        f"services:\n  catalog: {{url: '{service.url}', timeout: 10s}}\n"
        "capabilities:\n  slow:\n    match: [{path: /_slow}]\n    service: catalog\n"
        "    mode: legacy\n",
    )
    facade = processes.facade(routes, log_dir=tmp_path)
    answers: list[str] = []
    try:
        in_flight = threading.Thread(
            target=lambda: answers.append(server_of(facade.url + "/_slow?s=3"))
        )
        in_flight.start()
        time.sleep(0.3)
        edited = tmp_path / "routes.yaml.new"
        edited.write_text(routes.read_text().replace("mode: legacy", "mode: extracted"))
        edited.replace(routes)  # as editors and `strangler cutover` save: a rename
        deadline = time.monotonic() + 2
        while server_of(facade.url + "/_slow?s=0") != "catalog":
            assert time.monotonic() < deadline, "the cutover was not in force within 2 s"
            time.sleep(0.05)
        assert in_flight.is_alive()  # still waiting on the monolith...
        in_flight.join(10)
        assert answers == ["legacy"]  # ...and answered by it, as its config said
    finally:
        facade.stop()
        service.stop()
