"""Comparator micro-benchmark: ``compare_http`` per second on the shadow benchmark's 2 KB body.

Run as ``python -m bench.compare_bench [SECONDS]`` (2 s per case by default), or through
``scripts/bench --suite shadow``. Single thread, ``time.perf_counter`` around batches of calls,
each case for at least SECONDS after a short warm-up. Cases, control body always ``BODY``:

1. identical bytes (settled by the byte comparison);
2. equal values in different bytes: keys sorted and indented (both parsed, walked, equal);
3. one differing field (parsed, then the walker of ``parallel_run.json_diff`` for the report);
4. several differing fields, including a list element and a list's length (the walker).

Each case runs twice in one run, in alternating batches: with the comparator as it is, and
as it was until issue 17 (``tests/support/deepdiff_reference.py`` ``before_issue_17()``:
deepdiff as the differ, a JSON decoder built per parse, content types parsed per answer;
skipped when deepdiff, a dev dependency, is not installed). Both must name the same
differences, or the run stops. The ratio of the two is the figure to quote: on a loaded
machine absolute rates move, their ratio much less.

Headers as the facade's shadow mode compares them (content-type; date and server ignored).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench import payload
from parallel_run.compare import CompareRules, Comparison, HttpAnswer, compare_http

RULES = CompareRules(ignore_headers=("date", "server"))  # what facade.shadow builds by default
HEADERS = (("Content-Type", "application/json"), ("Server", "nginx"))
CASES: tuple[tuple[str, str, Callable[[], bytes]], ...] = (
    ("identical", "byte-identical bodies", lambda: payload.BODY),
    ("reordered", "equal values, different bytes (key order, whitespace)", payload.reordered),
    ("one-field", "one differing field", payload.one_field_changed),
    ("several", "several differing fields, incl. a list", payload.several_fields_changed),
)


@dataclass(frozen=True, slots=True)
class CaseResult:
    key: str
    label: str
    candidate_bytes: int
    equal: bool
    method: str  # how compare_http settled the bodies: bytes, parsed, deepdiff
    differences: int
    iterations: int
    seconds: float
    ops_per_s: float
    us_per_op: float
    cpu_us_per_op: float | None = None  # CPU time of this process per call
    deepdiff_ops_per_s: float | None = None  # the same case as before issue 17 (deepdiff)
    deepdiff_us_per_op: float | None = None
    deepdiff_cpu_us_per_op: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def speedup(self) -> float | None:
        if not self.deepdiff_ops_per_s:
            return None
        return self.ops_per_s / self.deepdiff_ops_per_s


def deepdiff_installed() -> bool:
    try:
        import deepdiff  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(slots=True)
class _Clock:
    """Calls and wall-clock seconds of one variant of a case."""

    iterations: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time: on a loaded machine, the closer figure

    def ops_per_s(self) -> float:
        return round(self.iterations / self.seconds, 1)

    def us_per_op(self) -> float:
        return round(self.seconds / self.iterations * 1e6, 2)

    def cpu_us_per_op(self) -> float:
        return round(self.cpu_seconds / self.iterations * 1e6, 2)

    def add(self, iterations: int, timed: tuple[float, float]) -> None:
        self.iterations += iterations
        self.seconds += timed[0]
        self.cpu_seconds += timed[1]


def measure_case(
    key: str, label: str, candidate_body: bytes, seconds: float, *, reference: bool = True
) -> CaseResult:
    """One case for `seconds` (and as many with deepdiff as the differ, with `reference`), in
    alternating batches of about 50 ms: a machine whose load changes during the run slows
    both alike, and the clock is read rarely."""
    control = HttpAnswer(200, HEADERS, payload.BODY)
    candidate = HttpAnswer(200, (("Content-Type", "application/json"),), candidate_body)

    def batch_of(size: int) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(size):
            compare_http(control, candidate, rules=RULES)
        return time.perf_counter() - started, time.process_time() - cpu

    def batch_size() -> int:
        first = compare_http(control, candidate, rules=RULES)
        batch_of(20)  # warm-up: imports, caches
        probe, started = 0, time.perf_counter()
        while time.perf_counter() - started < 0.05:
            compare_http(control, candidate, rules=RULES)
            probe += 1
        firsts.append(first)
        return max(1, probe)

    firsts: list[Comparison] = []
    now = _Clock()
    now_batch = batch_size()
    before = _Clock()
    before_batch = 0
    if reference:
        from tests.support.deepdiff_reference import before_issue_17

        with before_issue_17():
            before_batch = batch_size()
        if firsts[0] != firsts[1]:
            raise RuntimeError(f"case {key}: the walker and deepdiff disagree:\n{firsts}")
    while now.seconds < seconds or (reference and before.seconds < seconds):
        if now.seconds < seconds:
            now.add(now_batch, batch_of(now_batch))
        if reference and before.seconds < seconds:
            with before_issue_17():
                before.add(before_batch, batch_of(before_batch))
    first = firsts[0]
    return CaseResult(
        key=key,
        label=label,
        candidate_bytes=len(candidate_body),
        equal=first.equal,
        method=first.method,
        differences=len(first.differences),
        iterations=now.iterations,
        seconds=round(now.seconds, 3),
        ops_per_s=now.ops_per_s(),
        us_per_op=now.us_per_op(),
        cpu_us_per_op=now.cpu_us_per_op(),
        deepdiff_ops_per_s=before.ops_per_s() if reference else None,
        deepdiff_us_per_op=before.us_per_op() if reference else None,
        deepdiff_cpu_us_per_op=before.cpu_us_per_op() if reference else None,
    )


def run(seconds: float = 2.0, *, reference: bool | None = None) -> list[CaseResult]:
    """Every case; with `reference` (default: when deepdiff is installed) also as it was."""
    if reference is None:
        reference = deepdiff_installed()
    return [
        measure_case(key, label, body(), seconds, reference=reference) for key, label, body in CASES
    ]


def table(results: list[CaseResult]) -> str:
    from bench.report import markdown_table

    header = [
        "case (2 KB JSON control)",
        "result",
        "method",
        "diffs",
        "comparisons/s",
        "µs/op",
        "CPU µs/op",
        "before issue 17, /s",
        "CPU µs/op",
        "speed-up",
    ]
    rows = [
        [
            f"({i}) {r.label}",
            "equal" if r.equal else "differ",
            r.method,
            str(r.differences),
            f"{r.ops_per_s:,.0f}",
            f"{r.us_per_op:.1f}",
            "-" if r.cpu_us_per_op is None else f"{r.cpu_us_per_op:.1f}",
            "-" if r.deepdiff_ops_per_s is None else f"{r.deepdiff_ops_per_s:,.0f}",
            "-" if r.deepdiff_cpu_us_per_op is None else f"{r.deepdiff_cpu_us_per_op:,.1f}",
            "-" if r.speedup is None else f"{r.speedup:.2f}x",
        ]
        for i, r in enumerate(results, 1)
    ]
    return markdown_table(header, rows)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    load = os.getloadavg()[0]
    results = run(seconds)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, commit {commit or '-'}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at "
        f"end; {seconds:g}s per case and differ"
    )
    print(table(results))
    print(json.dumps([r.as_dict() for r in results], indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
