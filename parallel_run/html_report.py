"""The parallel-run report as one self-contained HTML page (``strangler report --html FILE``).

Inline CSS and an inline SVG chart: no script, no font, no stylesheet from anywhere else, so
the file opens offline and can be attached to a ticket. Everything that came from traffic
(bodies, paths, differing values, error texts) is untrusted and HTML-escaped, as is every
name from routes.yaml.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape

from parallel_run.record import ObservationRecord
from parallel_run.report import (
    CapabilityReport,
    ExampleSync,
    Latency,
    Report,
    pretty_body,
    value_text,
)

CHART_ID = "mismatch-rate-chart"
EXAMPLES_PER_CAPABILITY = 5
_PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7d8c", "#57606a")
_SCALES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)

# the page's style, shared by the migration map's page (strangler.map.html)
PAGE_CSS = """
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg2: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       margin: 0 auto; padding: 24px; max-width: 1200px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-top: 12px; border-top: 2px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
h4 { font-size: 14px; margin: 16px 0 6px; font-family: ui-monospace, monospace; }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: 4px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg2); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
            font-size: 12px; }
td code { white-space: pre-wrap; word-break: break-all; }
.bad { color: #d1242f; font-weight: 600; }
.ok { color: #1a7f37; font-weight: 600; }
.stale { color: #9a6700; font-weight: 600; }
figure { margin: 12px 0; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 16px; margin: 4px 0 0 56px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
          vertical-align: -1px; margin-right: 4px; }
.example { border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px 12px;
           margin: 12px 0; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.sides pre { background: var(--bg2); border: 1px solid var(--line); padding: 8px; margin: 0;
             max-height: 480px; overflow: auto; white-space: pre-wrap; word-break: break-all; }
.sides h5 { margin: 6px 0 4px; font-size: 13px; }
"""


def render_html(report: Report, examples: Mapping[str, ObservationRecord]) -> str:
    """The whole page: an overview, the mismatch-rate chart, then per capability its tables
    and, for each of its top signatures, the example observation side by side (when it is in
    ``examples``, keyed by observation id)."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>strangler parallel-run report</title>",
        f"<style>{PAGE_CSS}</style></head><body>",
        "<header><h1>Parallel-run report</h1>",
        f'<p class="muted">{_e(_when(report.since))} — {_e(_when(report.generated_at))}'
        f" ({_e(_span(report.generated_at - report.since))})</p></header>",
        _overview(report),
        _chart(report),
    ]
    for index, cap in enumerate(report.capabilities):
        parts.append(_capability(cap, examples, colour=_PALETTE[index % len(_PALETTE)]))
    parts.append("</body></html>\n")
    return "\n".join(parts)


# -- pieces -----------------------------------------------------------------------------------


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def percent_html(rate: float | None) -> str:
    """A rate as a percentage with the digits its size needs; None as a dash."""
    if rate is None:
        return "&ndash;"
    value = rate * 100
    if value == 0:
        return "0%"
    if value >= 10:
        return f"{value:.0f}%"
    if value >= 1:
        return f"{value:.1f}%"
    return f"{value:.2f}%"


def _ms(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:.1f}"


def _latency(latency: Latency) -> str:
    return f"{_ms(latency.p50)} / {_ms(latency.p99)}"


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-{name}"


def table_html(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: set[int]) -> str:
    """A table; cells are given already escaped (they may hold links)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _overview(report: Report) -> str:
    if not report.capabilities:
        return "<p>No capabilities and no recorded comparisons.</p>"
    rows = []
    for cap in report.capabilities:
        low, high = cap.mismatch_rate_ci
        rate_class = "bad" if cap.mismatches + cap.candidate_errors else "ok"
        rows.append(
            [
                f'<a href="#{_e(_anchor("cap", cap.name))}">{_e(cap.name)}</a>',
                _e(cap.mode),
                str(cap.comparisons),
                str(cap.mismatches),
                f'<span class="{rate_class}">{percent_html(cap.mismatch_rate)}</span>'
                f' <span class="muted">[{percent_html(low)}, {percent_html(high)}]</span>'
                if cap.judged
                else "&ndash;",
                f"{cap.candidate_errors} (timeouts: {cap.timeouts})",
                str(cap.dropped),
                _latency(cap.legacy_ms),
                _latency(cap.candidate_ms),
            ]
        )
    return "<h2>Overview</h2>" + table_html(
        (
            "capability",
            "mode",
            "comparisons",
            "mismatches",
            "mismatch rate [95% CI]",
            "candidate errors",
            "dropped",
            "legacy ms p50 / p99",
            "candidate ms p50 / p99",
        ),
        rows,
        numeric={2, 3, 4, 5, 6, 7, 8},
    )


def _chart(report: Report) -> str:
    """Mismatch rate per timeline bucket, one line per capability; buckets where nothing was
    judged leave a gap rather than pretend a rate of zero."""
    width, height = 1000, 280
    left, right, top, bottom = 56, 16, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    rates = [
        point.mismatch_rate
        for cap in report.capabilities
        for point in cap.timeline
        if point.mismatch_rate is not None
    ]
    peak = max(rates, default=0.0)
    scale = next((s for s in _SCALES if peak <= s), 1.0)
    buckets = max((len(cap.timeline) for cap in report.capabilities), default=0)
    out = [
        f'<h2>Mismatch rate over time</h2><figure><svg id="{CHART_ID}" role="img"'
        f' viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet"'
        ' aria-label="mismatch rate per time bucket and capability">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff"'
        ' stroke="#d1d9e0"/>',
    ]
    for tick in range(5):
        value = scale * tick / 4
        y = top + plot_h - plot_h * tick / 4
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"'
            ' stroke="#eaeef2"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{percent_html(value)}</text>'
        )
    if buckets:
        step = plot_w / buckets
        every = max(1, math.ceil(buckets / 8))
        longest = max(report.capabilities, key=lambda cap: len(cap.timeline))
        # the timeline spans the data (parallel_run.report.timeline_span), not the window
        spanned = longest.timeline[-1].start - longest.timeline[0].start
        fmt = "%H:%M" if spanned <= timedelta(days=2) else "%m-%d"
        for index, point in enumerate(longest.timeline):
            if index % every == 0:
                x = left + step * index
                out.append(
                    f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}"'
                    ' stroke="#8c959f"/>'
                    f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                    f"{_e(point.start.strftime(fmt))}</text>"
                )
        for index, cap in enumerate(report.capabilities):
            colour = _PALETTE[index % len(_PALETTE)]
            segments: list[list[tuple[float, float]]] = [[]]
            for i, point in enumerate(cap.timeline):
                if point.mismatch_rate is None:
                    segments.append([])
                    continue
                x = left + step * (i + 0.5)
                y = top + plot_h - plot_h * min(point.mismatch_rate / scale, 1.0)
                segments[-1].append((x, y))
                failed = point.mismatches + point.candidate_errors
                out.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                    f"{_e(cap.name)} {_e(_when(point.start))}: {percent_html(point.mismatch_rate)}"
                    f" ({failed} of {point.judged} judged comparisons differed or failed)"
                    "</title></circle>"
                )
            for segment in segments:
                if len(segment) > 1:
                    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
                    out.append(
                        f'<polyline points="{coords}" fill="none" stroke="{colour}"'
                        ' stroke-width="2" stroke-linejoin="round"/>'
                    )
    if not rates:
        out.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">'
            "no judged comparisons in this window</text>"
        )
    out.append("</svg>")
    legend = "".join(
        f'<span><span class="swatch" style="background:{_PALETTE[i % len(_PALETTE)]}"></span>'
        f"{_e(cap.name)}</span>"
        for i, cap in enumerate(report.capabilities)
    )
    out.append(f'<figcaption class="legend">{legend}</figcaption></figure>')
    return "".join(out)


def _example_link(
    observation_id: str, examples: Mapping[str, ObservationRecord], sync: ExampleSync | None
) -> str:
    if not observation_id:  # counted only: no example of it was stored
        return '<span class="muted">-</span>'
    if observation_id in examples:
        link = (
            f'<a href="#{_e(_anchor("obs", observation_id))}"><code>{_e(observation_id)}</code></a>'
        )
    else:
        link = f"<code>{_e(observation_id)}</code>"
    return link + _sync_note(sync)


def _sync_note(sync: ExampleSync | None) -> str:
    """The sync lag when the example was observed, and ``(stale?)`` when its key had a change
    on its way: the service may only have been behind."""
    if sync is None:
        return ""
    note = (
        ""
        if sync.lag_seconds is None
        else f' <span class="muted">lag {sync.lag_seconds:.1f}s</span>'
    )
    if sync.possibly_stale:
        note += (
            ' <span class="stale" title="its key had a change captured and not yet applied '
            'when it was observed">(stale?)</span>'
        )
    return note


def _capability(
    cap: CapabilityReport, examples: Mapping[str, ObservationRecord], *, colour: str
) -> str:
    low, high = cap.mismatch_rate_ci
    out = [
        f'<section id="{_e(_anchor("cap", cap.name))}">',
        f'<h2><span class="swatch" style="background:{colour}"></span>{_e(cap.name)}'
        f' <span class="muted">({_e(cap.mode)})</span></h2>',
        table_html(
            (
                "comparisons",
                "matches",
                "mismatches",
                "ignored",
                "candidate errors",
                "timeouts",
                "dropped",
                "mismatch rate",
                "95% CI",
                "legacy ms p50 / p99",
                "candidate ms p50 / p99",
            ),
            [
                [
                    str(cap.comparisons),
                    str(cap.matches),
                    str(cap.mismatches),
                    str(cap.ignored),
                    str(cap.candidate_errors),
                    str(cap.timeouts),
                    str(cap.dropped),
                    percent_html(cap.mismatch_rate) if cap.judged else "&ndash;",
                    f"{percent_html(low)} &ndash; {percent_html(high)}",
                    _latency(cap.legacy_ms),
                    _latency(cap.candidate_ms),
                ]
            ],
            numeric=set(range(11)),
        ),
        "<h3>Top differing paths</h3>",
    ]
    if cap.top_paths:
        out.append(
            table_html(
                ("path", "comparisons", "example"),
                [
                    [
                        f"<code>{_e(row.path)}</code>",
                        str(row.count),
                        _example_link(row.example_id, examples, row.sync),
                    ]
                    for row in cap.top_paths
                ],
                numeric={1},
            )
        )
    else:
        out.append('<p class="muted">No differing paths.</p>')
    out.append("<h3>Mismatches by signature</h3>")
    if cap.signatures:
        out.append(
            table_html(
                ("differing paths", "comparisons", "example"),
                [
                    [
                        "<br>".join(f"<code>{_e(p)}</code>" for p in row.paths)
                        or '<span class="muted">(no path: an error)</span>',
                        str(row.count),
                        _example_link(row.example_id, examples, row.sync),
                    ]
                    for row in cap.signatures
                ],
                numeric={1},
            )
        )
    else:
        out.append('<p class="muted">No mismatches.</p>')
    out.append("<h3>Learned noise</h3>")
    if cap.noise_paths:
        out.append(
            table_html(
                ("route", "path", "kind", "legacy vs legacy", "legacy vs candidate"),
                [
                    [
                        f"<code>{_e(n.route)}</code>",
                        f"<code>{_e(n.path)}</code>",
                        _e(n.kind),
                        f"{n.twin_diffs} / {n.twin_samples} ({percent_html(n.twin_rate)})",
                        f"{n.diffs} / {n.samples} ({percent_html(n.rate)})",
                    ]
                    for n in cap.noise_paths
                ],
                numeric={3, 4},
            )
        )
    else:
        out.append('<p class="muted">No fields learned as noise.</p>')
    shown = [
        examples[row.example_id]
        for row in cap.signatures[:EXAMPLES_PER_CAPABILITY]
        if row.example_id in examples
    ]
    if shown:
        out.append("<h3>Examples, side by side</h3>")
        out.extend(_example(record) for record in shown)
    out.append("</section>")
    return "\n".join(out)


def _example(record: ObservationRecord) -> str:
    out = [
        f'<div class="example" id="{_e(_anchor("obs", record.id))}">',
        f"<h4>{_e(record.method)} {_e(record.path)}</h4>",
        f'<p class="muted">observation <code>{_e(record.id)}</code> · {_e(record.outcome)}'
        f" · route <code>{_e(record.route)}</code> · {_e(_when(record.created_at))}</p>",
    ]
    if record.differences:
        out.append(
            table_html(
                ("path", "kind", "legacy", "candidate"),
                [
                    [
                        f"<code>{_e(d.get('path', ''))}</code>",
                        _e(d.get("kind", "")),
                        f"<code>{_e(value_text(d.get('control')))}</code>",
                        f"<code>{_e(value_text(d.get('candidate')))}</code>",
                    ]
                    for d in record.differences
                ],
                numeric=set(),
            )
        )
    out.append('<div class="sides">')
    for title, status, ms, error, body in (
        (
            "legacy",
            record.control_status,
            record.control_ms,
            record.control_error,
            record.control_body,
        ),
        (
            "candidate",
            record.candidate_status,
            record.candidate_ms,
            record.candidate_error,
            record.candidate_body,
        ),
    ):
        state = f"error: {error}" if error else f"status {status}"
        out.append(
            f"<div><h5>{title} · {_e(state)} · {_ms(ms)} ms</h5>"
            f"<pre>{_e(pretty_body(body))}</pre></div>"
        )
    out.append("</div></div>")
    return "".join(out)
