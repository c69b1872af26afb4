"""An edit to routes.yaml made while no facade ran is in the audit trail once a facade starts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support import processes

STRANGLER = str(Path(sys.executable).parent / "strangler")


def _audit(routes: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [STRANGLER, "audit", "--routes", str(routes), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    records: list[dict[str, object]] = json.loads(done.stdout)["records"]
    # the facade's own config-in-force records say which file it ran, not who changed it
    return [r for r in records if r["source"] != "config-in-force"]


def test_a_facade_start_records_the_edit_no_reload_saw(tmp_path: Path) -> None:
    echo = processes.echo_upstream("svc", log_dir=tmp_path)
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"version: 1\nlegacy: {{url: '{echo.url}'}}\n"
        f"services:\n  svc: {{url: '{echo.url}'}}\n"
        "capabilities:\n  products:\n    service: svc\n    mode: legacy\n"
        "    match: [{path: '/api/products'}]\n"
        "store: {url: 'sqlite:///store.db'}\n"
    )
    try:
        subprocess.run(
            [STRANGLER, "shadow", "products", "--routes", str(routes)], check=True, timeout=60
        )
        # with no facade running, someone cuts the capability over by hand
        routes.write_text(routes.read_text().replace("mode: shadow", "mode: extracted"))
        for start in range(2):  # the second start finds the edit recorded
            logs = tmp_path / f"start-{start}"
            logs.mkdir()
            facade = processes.facade(routes, log_dir=logs)
            deadline = time.monotonic() + 20
            while len(records := _audit(routes)) < 2:
                assert time.monotonic() < deadline, facade.log()
                time.sleep(0.2)
            assert facade.stop() == 0
        assert len(records) == 2
        newest = records[0]
        assert newest["source"] == "hand-edit"
        assert newest["from"] == {"mode": "shadow", "percent": 0.0}
        assert newest["to"] == {"mode": "extracted", "percent": 100.0}
        assert newest["reason"] == "changed while no facade was running"
    finally:
        echo.stop()
