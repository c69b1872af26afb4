"""The monolith probe behind /readyz stops when its facade closes, whenever the close comes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from facade import admin, config
from facade.admin import probe_legacy
from facade.state import FacadeState, LiveConfig


def state(tmp_path: Path) -> FacadeState:
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n")
    return FacadeState(LiveConfig(config.load(routes)))


async def test_a_probe_cancelled_as_its_connect_is_refused_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker that fails to listen closes its facade at once, while the first probe's
    # connect is being refused: on uvloop the two come together. asyncio.wait_for (Python
    # 3.11) then raised the refusal instead of the cancel, the probe went on probing and the
    # worker never exited.
    probe: asyncio.Task[None] | None = None

    async def refused(host: str, port: int) -> None:
        assert probe is not None
        probe.cancel()  # the close's cancel, arriving as the refusal does
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(asyncio, "open_connection", refused)
    probe = asyncio.ensure_future(probe_legacy(state(tmp_path)))
    done, _ = await asyncio.wait({probe}, timeout=admin.PROBE_INTERVAL * 3)
    assert probe in done
    assert probe.cancelled()
