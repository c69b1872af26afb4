"""Comparator micro-benchmark: ``compare_http`` per second on the shadow benchmark's 2 KB body.

Run as ``python -m bench.compare_bench [SECONDS]`` (2 s per case by default), or through
``scripts/bench --suite shadow``. Single thread, ``time.perf_counter`` around batches of calls,
each case for at least SECONDS after a short warm-up. Cases, control body always ``BODY``:

1. identical bytes (settled by the byte comparison);
2. equal values in different bytes: keys sorted and indented (both parsed, walked, equal);
3. one differing field (parsed, then deepdiff for the report);
4. several differing fields, including a list element and a list's length (deepdiff).

Headers as the facade's shadow mode compares them (content-type; date and server ignored).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench import payload
from parallel_run.compare import CompareRules, HttpAnswer, compare_http

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_case(key: str, label: str, candidate_body: bytes, seconds: float) -> CaseResult:
    control = HttpAnswer(200, HEADERS, payload.BODY)
    candidate = HttpAnswer(200, (("Content-Type", "application/json"),), candidate_body)
    first = compare_http(control, candidate, rules=RULES)
    for _ in range(20):  # warm-up: imports, caches
        compare_http(control, candidate, rules=RULES)
    # a batch that lasts about 50 ms, so the clock is read rarely
    started = time.perf_counter()
    probe = 0
    while time.perf_counter() - started < 0.05:
        compare_http(control, candidate, rules=RULES)
        probe += 1
    batch = max(1, probe)
    iterations = 0
    started = time.perf_counter()
    while True:
        for _ in range(batch):
            compare_http(control, candidate, rules=RULES)
        iterations += batch
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
    return CaseResult(
        key=key,
        label=label,
        candidate_bytes=len(candidate_body),
        equal=first.equal,
        method=first.method,
        differences=len(first.differences),
        iterations=iterations,
        seconds=round(elapsed, 3),
        ops_per_s=round(iterations / elapsed, 1),
        us_per_op=round(elapsed / iterations * 1e6, 2),
    )


def run(seconds: float = 2.0) -> list[CaseResult]:
    return [measure_case(key, label, body(), seconds) for key, label, body in CASES]


def table(results: list[CaseResult]) -> str:
    from bench.report import markdown_table

    header = ["case (2 KB JSON control)", "result", "method", "diffs", "comparisons/s", "µs/op"]
    rows = [
        [
            f"({i}) {r.label}",
            "equal" if r.equal else "differ",
            r.method,
            str(r.differences),
            f"{r.ops_per_s:,.0f}",
            f"{r.us_per_op:.1f}",
        ]
        for i, r in enumerate(results, 1)
    ]
    return markdown_table(header, rows)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    results = run(seconds)
    print(table(results))
    print(json.dumps([r.as_dict() for r in results], indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
