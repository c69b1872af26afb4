"""The engines benchmark's own logic: its verdicts, its CPU reading, its hand-written Envoy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import engines
from bench.engines import Result, Target, checks
from bench.procs import tree_cpu_seconds
from bench.wrk import Measurement


def _result(key: str, rps: float, *, p99: float = 10.0, cpu: float | None = None) -> Result:
    target = next((t for t in engines.TARGETS if t.key == key), None)
    scenario = target or next(s for s in engines.SHADOW_TARGETS if s.key == key)
    m = Measurement("throughput", 32, int(rps * 10), 10.0, rps, 1.0, 2.0, p99, 20.0, 0)
    return Result(scenario, m, m, None, cpu)


def _verdicts(results: list[Result]) -> dict[str, bool | None]:
    return {c.name: c.passed for c in checks(results)}


def test_the_aims_pass_and_fail_on_their_thresholds() -> None:
    found = _verdicts(
        [
            _result("h", 10_000),
            _result("e-legacy", 9_000),  # exactly 0.9x: holds
            _result("e-canary", 8_999),  # just under: does not
            _result("p-legacy", 3_000),  # 3x: holds
            _result("p-canary", 3_001),  # under 3x: does not
            _result("n", 20_000),
        ]
    )
    assert found["engine legacy / hand-written Envoy rps"] is True
    assert found["engine canary / hand-written Envoy rps"] is False
    assert found["engine legacy / Python facade legacy rps"] is True
    assert found["engine canary / Python facade canary rps"] is False
    assert found["engine legacy / nginx rps"] is None  # stated, never a verdict


def test_cpu_ratios_are_reference_over_engine() -> None:
    found = {
        c.name: c
        for c in checks(
            [_result("h", 1, cpu=50.0), _result("e-legacy", 1, cpu=100.0), _result("p-legacy", 1)]
        )
    }
    by_cpu = found["engine legacy / hand-written Envoy, by CPU per request"]
    assert by_cpu.value == pytest.approx(0.5)
    assert by_cpu.passed is False
    # the Python facade's CPU was not read: no CPU line for it
    assert "engine legacy / Python facade legacy, by CPU per request" not in found


def test_shadow_p99_within_ten_percent() -> None:
    holds = _verdicts([_result("s-off", 1, p99=10.0), _result("s-10", 1, p99=11.0)])
    fails = _verdicts([_result("s-off", 1, p99=10.0), _result("s-10", 1, p99=11.2)])
    name = "shadow 10% / pass-through client p99 at 32 connections (saturated)"
    assert holds[name] is True
    assert fails[name] is False


def _paced(result: Result, p99: float) -> Result:
    paced = Measurement("paced", 16, 19_000, 10.0, 1_900.0, 0.3, 0.5, p99, 9.0, 0)
    return Result(result.scenario, result.latency, result.throughput, None, None, paced)


def test_shadow_aim_is_read_at_the_paced_rate_when_measured() -> None:
    # saturated: 1.5x (would fail); paced: 1.05x (holds)
    off = _paced(_result("s-off", 1, p99=10.0), 2.0)
    on = _paced(_result("s-10", 1, p99=15.0), 2.1)
    found = {c.name: c for c in checks([off, on])}
    paced = found["shadow 10% / pass-through client p99 at a fixed 1,900 rps over 16 connections"]
    assert paced.value == pytest.approx(1.05)
    assert paced.passed is True
    saturated = found["shadow 10% / pass-through client p99 at 32 connections (saturated)"]
    assert saturated.value == pytest.approx(1.5)
    assert saturated.passed is None  # stated beside the aim, not a verdict
    worse = {c.name: c.passed for c in checks([off, _paced(on, 2.3)])}
    assert (
        worse["shadow 10% / pass-through client p99 at a fixed 1,900 rps over 16 connections"]
        is False
    )


def test_paced_script_delays_each_connection_to_its_share(tmp_path: Path) -> None:
    from bench.wrk import REPORT_LUA, write_paced_script

    text = write_paced_script(tmp_path, 16, 2000).read_text()
    assert text.startswith(REPORT_LUA)
    assert text.endswith("delay = function() return 8 end\n")  # 16 connections / 2000 rps


def test_a_rate_wrk_cannot_pace_is_refused(tmp_path: Path) -> None:
    from bench.procs import BenchError
    from bench.wrk import write_paced_script

    with pytest.raises(BenchError, match="whole milliseconds"):
        write_paced_script(tmp_path, 1, 5000)  # 0.2 ms a request: wrk's delay cannot say it


def test_pinning_gives_the_compare_service_a_cpu_the_fronts_do_not_use() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: nothing to split")
    before = os.sched_getaffinity(0)
    placement = engines.Placement.split()
    assert placement.compare not in placement.others
    assert placement.compare_argv(["strangler", "compare-service"])[:3] == [
        "taskset",
        "-c",
        str(placement.compare),
    ]
    with placement.fronts():
        assert os.sched_getaffinity(0) == placement.others
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert child.stdout.strip() == str(sorted(placement.others))  # inherited
    assert os.sched_getaffinity(0) == before


# a child that spins for 1.5 s of CPU, then idles: its CPU is its own (not yet its parent's)
_CHILD = "import time\nwhile time.process_time() < 1.5: pass\ntime.sleep(30)\n"
_PARENT = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', sys.argv[1]])\n"
    "time.sleep(30)\n"
)


def test_tree_cpu_counts_a_busy_child() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, _CHILD], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while tree_cpu_seconds(parent.pid) < 1.0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tree_cpu_seconds(parent.pid) >= 1.0  # the parent alone sleeps
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


def test_its_routes_yaml_loads_with_one_capability_per_route_kind(tmp_path: Path) -> None:
    from facade.config import load

    path = tmp_path / "routes.yaml"
    path.write_text(engines.engines_routes(8001, 8002))
    config = load(path)
    modes = {name: cap.mode for name, cap in config.routes.capabilities.items()}
    assert modes == {f"{kind}-route": kind for kind in engines.ROUTE_KINDS}
    assert {t.route for t in engines.TARGETS if isinstance(t, Target) and t.route} == set(
        engines.ROUTE_KINDS
    )
