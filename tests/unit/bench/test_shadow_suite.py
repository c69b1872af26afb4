"""The shadow suite's routes.yaml: the share of requests shadowed is the one asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import shadow
from facade.config import Capability, load


def _config(tmp_path: Path, scenario: shadow.ShadowScenario, percent: float) -> Capability:
    ups = shadow.Upstreams(legacy=8001, identical=8002, slow=8003)
    path = tmp_path / "routes.yaml"
    path.write_text(shadow.routes_yaml(scenario, ups, 3.0, tmp_path / "ev.db", percent))
    return load(path).routes.capabilities[shadow.CAPABILITY]


@pytest.mark.parametrize("percent", [100.0, 25.0, 2.5])
def test_the_shadow_scenarios_shadow_the_share_asked_for(tmp_path: Path, percent: float) -> None:
    s1 = next(s for s in shadow.SCENARIOS if s.key == "s1")
    cap = _config(tmp_path, s1, percent)
    assert cap.mode == "shadow"
    assert cap.shadow.percent == percent


def test_pass_through_has_no_shadow_settings(tmp_path: Path) -> None:
    p = next(s for s in shadow.SCENARIOS if s.key == "p")
    cap = _config(tmp_path, p, 25.0)
    assert cap.mode == "legacy"


def test_a_share_outside_0_to_100_is_refused() -> None:
    with pytest.raises(SystemExit) as refused:
        shadow.parse_args(["--percent", "0"])
    assert refused.value.code == 2
