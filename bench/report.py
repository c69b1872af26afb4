"""Ratios, the verdict against the reference figures, and the tables (markdown) and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.targets import INVENTORY_KEY, Scenario
from bench.wrk import Measurement

# A naive single-process aiohttp proxy, measured on this kind of machine (the reference).
REFERENCE_RPS_RATIO = 0.095  # of nginx's throughput
REFERENCE_ADDED_P50_MS = 0.5  # at one connection


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: Scenario
    latency: Measurement  # one connection
    throughput: Measurement  # many connections
    body_matches_direct: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.scenario.key,
            "label": self.scenario.label,
            "via": self.scenario.via,
            "upstream": self.scenario.upstream,
            "workers": self.scenario.workers,
            "body_matches_direct": self.body_matches_direct,
            "latency": self.latency.as_dict(),
            "throughput": self.throughput.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """The facade and nginx in front of one upstream, against direct access to it."""

    name: str
    direct: ScenarioResult
    nginx: ScenarioResult
    facade: ScenarioResult
    naive: ScenarioResult | None = None  # the naive aiohttp proxy, where it was measured

    def ratio(self, front: ScenarioResult, base: ScenarioResult) -> float:
        return front.throughput.rps / base.throughput.rps if base.throughput.rps else 0.0

    def added(self, front: ScenarioResult, percentile: str) -> float:
        """Milliseconds added at one connection, against direct access."""
        return float(getattr(front.latency, percentile) - getattr(self.direct.latency, percentile))

    def as_dict(self) -> dict[str, float | str | None]:
        naive = self.naive
        return {
            "name": self.name,
            "facade_over_nginx_rps": round(self.ratio(self.facade, self.nginx), 4),
            "facade_over_direct_rps": round(self.ratio(self.facade, self.direct), 4),
            "nginx_over_direct_rps": round(self.ratio(self.nginx, self.direct), 4),
            "facade_added_p50_ms": round(self.added(self.facade, "p50_ms"), 3),
            "facade_added_p99_ms": round(self.added(self.facade, "p99_ms"), 3),
            "nginx_added_p50_ms": round(self.added(self.nginx, "p50_ms"), 3),
            "nginx_added_p99_ms": round(self.added(self.nginx, "p99_ms"), 3),
            "naive_over_nginx_rps": round(self.ratio(naive, self.nginx), 4) if naive else None,
            "facade_over_naive_rps": round(self.ratio(self.facade, naive), 4) if naive else None,
            "naive_added_p50_ms": round(self.added(naive, "p50_ms"), 3) if naive else None,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    rps_ratio: float
    added_p50_ms: float
    naive_rps_ratio: float | None  # the naive proxy measured in this run, for context
    naive_added_p50_ms: float | None

    @property
    def throughput_ok(self) -> bool:
        return self.rps_ratio >= REFERENCE_RPS_RATIO

    @property
    def latency_ok(self) -> bool:
        return self.added_p50_ms <= REFERENCE_ADDED_P50_MS

    @property
    def passed(self) -> bool:
        return self.throughput_ok and self.latency_ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "basis": "facade (1 worker) vs nginx (1 worker) and direct, stand-in upstream",
            "throughput": {
                "facade_over_nginx": round(self.rps_ratio, 4),
                "reference_min": REFERENCE_RPS_RATIO,
                "pass": self.throughput_ok,
            },
            "added_p50_ms": {
                "facade": round(self.added_p50_ms, 3),
                "reference_max": REFERENCE_ADDED_P50_MS,
                "pass": self.latency_ok,
            },
            "pass": self.passed,
            "measured_naive_proxy": None
            if self.naive_rps_ratio is None or self.naive_added_p50_ms is None
            else {
                "naive_over_nginx": round(self.naive_rps_ratio, 4),
                "added_p50_ms": round(self.naive_added_p50_ms, 3),
            },
        }


def medians(results: Sequence[ScenarioResult]) -> list[ScenarioResult]:
    """One result per scenario (in first-measured order): the median over its rounds."""
    rounds: dict[str, list[ScenarioResult]] = {}
    for result in results:
        rounds.setdefault(result.scenario.key, []).append(result)
    return [
        ScenarioResult(
            group[0].scenario,
            Measurement.median([r.latency for r in group]),
            Measurement.median([r.throughput for r in group]),
            all(r.body_matches_direct for r in group),
        )
        for group in rounds.values()
    ]


def comparisons(results: Sequence[ScenarioResult]) -> list[Comparison]:
    """Each (direct, nginx, facade) triple that was measured, same upstream and worker count."""
    found: list[Comparison] = []
    for upstream in ("stand-in", "monolith"):
        direct = _find(results, "direct", upstream, 1)
        for workers in (1, 2):
            nginx = _find(results, "nginx", upstream, workers)
            facade = _find(results, "facade", upstream, workers)
            if direct and nginx and facade:
                name = f"{upstream}, {workers} worker{'s' if workers > 1 else ''}"
                naive = _find(results, "naive", upstream, workers)
                found.append(Comparison(name, direct, nginx, facade, naive))
    return found


def verdict(found: Sequence[Comparison]) -> Verdict | None:
    first = next((c for c in found if c.name == "stand-in, 1 worker"), None)
    if first is None:
        return None
    naive = first.naive
    return Verdict(
        first.ratio(first.facade, first.nginx),
        first.added(first.facade, "p50_ms"),
        first.ratio(naive, first.nginx) if naive else None,
        first.added(naive, "p50_ms") if naive else None,
    )


def _find(
    results: Sequence[ScenarioResult], via: str, upstream: str, workers: int
) -> ScenarioResult | None:
    for result in results:
        s = result.scenario
        if s.via == via and s.upstream == upstream and s.workers == workers and not s.inventory:
            return result
    return None


# the facade with an endpoint inventory may cost at most this much throughput against (c)
INVENTORY_MAX_COST = 0.05


def inventory_effect(
    results: Sequence[ScenarioResult], inventory: Path | None
) -> dict[str, Any] | None:
    """(ci), the facade counting traffic per endpoint, against (c) and the reference (r)."""
    counted = next((r for r in results if r.scenario.key == INVENTORY_KEY), None)
    plain = _find(results, "facade", "stand-in", 1)
    naive = _find(results, "naive", "stand-in", 1)
    if counted is None or plain is None or inventory is None:
        return None
    ratio = counted.throughput.rps / plain.throughput.rps if plain.throughput.rps else 0.0
    over_naive = None
    if naive is not None and naive.throughput.rps and plain.throughput.rps:
        plain_over_naive = plain.throughput.rps / naive.throughput.rps
        over_naive = {
            "facade_over_naive_rps": round(plain_over_naive, 4),
            "counted_over_naive_rps": round(counted.throughput.rps / naive.throughput.rps, 4),
        }
    return {
        "file": str(inventory),
        "endpoints": len(json.loads(inventory.read_text()).get("endpoints", [])),
        "counted_over_facade_rps": round(ratio, 4),
        "added_p50_ms_at_1": round(counted.latency.p50_ms - plain.latency.p50_ms, 3),
        "against_naive": over_naive,
        "max_cost": INVENTORY_MAX_COST,
        "pass": ratio >= 1 - INVENTORY_MAX_COST,
    }


def inventory_lines(effect: dict[str, Any] | None) -> list[str]:
    if effect is None:
        return []
    naive = effect["against_naive"]
    against = (
        f"; against (r): {naive['facade_over_naive_rps']:.3f}x without, "
        f"{naive['counted_over_naive_rps']:.3f}x with"
        if naive
        else ""
    )
    return [
        "",
        f"With the endpoint inventory ({effect['endpoints']} endpoints, {effect['file']}):",
        "",
        f"- (ci)/(c) throughput = {effect['counted_over_facade_rps']:.3f}x, "
        f"{signed_ms(effect['added_p50_ms_at_1'])} ms p50 at 1 connection{against} "
        f"(at most {effect['max_cost']:.0%} slower) **{_mark(effect['pass'])}**",
    ]


def ms(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def signed_ms(value: float) -> str:
    return ("+" if value >= 0 else "") + ms(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table padded to align in a terminal; first column left, the rest right."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    rule = ["-" * (w + 1) if i == 0 else "-" * w + ":" for i, w in enumerate(widths)]
    lines = [_row(header, widths), "|-" + "|-".join(rule) + "|"]
    lines += [_row(row, widths) for row in rows]
    return "\n".join(lines)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [
        cell.ljust(width) if i == 0 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return "| " + " | ".join(padded) + " |"


class _Labelled(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def label(self) -> str: ...


class Measured(Protocol):
    """A scenario's two measurements: what every suite's results table shows."""

    @property
    def scenario(self) -> _Labelled: ...
    @property
    def latency(self) -> Measurement: ...
    @property
    def throughput(self) -> Measurement: ...


def results_table(results: Sequence[Measured], connections: int) -> str:
    header = [
        "scenario", f"rps @{connections}", f"p50 @{connections}", f"p99 @{connections}",
        "p50 @1", "p99 @1", "errors",
    ]  # fmt: skip
    rows = [
        [
            f"({r.scenario.key}) {r.scenario.label}",
            f"{r.throughput.rps:,.0f}",
            ms(r.throughput.p50_ms),
            ms(r.throughput.p99_ms),
            ms(r.latency.p50_ms),
            ms(r.latency.p99_ms),
            str(r.throughput.errors + r.latency.errors),
        ]
        for r in results
    ]
    return markdown_table(header, rows)


def ratios_table(found: Sequence[Comparison]) -> str:
    header = [
        "upstream, front workers", "facade/nginx rps", "facade/direct rps", "nginx/direct rps",
        "facade/naive rps", "facade +p50 @1", "facade +p99 @1", "nginx +p50 @1", "nginx +p99 @1",
    ]  # fmt: skip
    rows = []
    for c in found:
        d = c.as_dict()
        rows.append(
            [
                c.name,
                f"{d['facade_over_nginx_rps']:.3f}x",
                f"{d['facade_over_direct_rps']:.3f}x",
                f"{d['nginx_over_direct_rps']:.3f}x",
                "-" if c.naive is None else f"{d['facade_over_naive_rps']:.3f}x",
                signed_ms(c.added(c.facade, "p50_ms")),
                signed_ms(c.added(c.facade, "p99_ms")),
                signed_ms(c.added(c.nginx, "p50_ms")),
                signed_ms(c.added(c.nginx, "p99_ms")),
            ]
        )
    return markdown_table(header, rows)


def verdict_lines(result: Verdict | None) -> list[str]:
    if result is None:
        return ["- verdict: not computed (the stand-in scenarios a, b and c were not all measured)"]
    lines = [
        f"- throughput: facade/nginx = {result.rps_ratio:.3f}x "
        f"(reference: at least {REFERENCE_RPS_RATIO}x) **{_mark(result.throughput_ok)}**",
        f"- latency: facade adds {signed_ms(result.added_p50_ms)} ms p50 at 1 connection "
        f"(reference: at most +{REFERENCE_ADDED_P50_MS} ms) **{_mark(result.latency_ok)}**",
    ]
    if result.naive_rps_ratio is not None and result.naive_added_p50_ms is not None:
        lines.append(
            f"- for context, the naive aiohttp proxy measured in this run (r): "
            f"{result.naive_rps_ratio:.3f}x nginx, {signed_ms(result.naive_added_p50_ms)} ms p50"
        )
    return lines


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
