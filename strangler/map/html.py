"""The migration map as one self-contained HTML page (``strangler map --html FILE``).

Like the parallel-run report's page (its style is shared): inline CSS and an inline SVG
picture, no script, nothing fetched, so it opens offline. Endpoint keys come from the
monolith's URLconf and traffic keys from requests: every text is HTML-escaped, as are the
capability names from routes.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from parallel_run.html_report import PAGE_CSS, percent_html, table_html
from strangler.map.model import EndpointRow, MigrationMap, Point, decommission, share
from strangler.text import methods, when

CHART_ID = "service-share-chart"
SERVICES, MONOLITH = "#1a7f37", "#d0d7de"

_CSS = """
.numbers { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.number { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 180px; }
.number b { display: block; font-size: 26px; font-variant-numeric: tabular-nums; }
"""


def render_map_html(migration_map: MigrationMap) -> str:
    """The whole page: the summary numbers, the share served by services over the window,
    what to extract next, every endpoint, and what still holds the monolith up."""
    m = migration_map
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>strangler migration map</title>",
            f"<style>{PAGE_CSS}{_CSS}</style></head><body>",
            "<header><h1>Migration map</h1>",
            f'<p class="muted">{_e(when(m.since))} — {_e(when(m.until))} · inventory '
            f"<code>{_e(m.inventory)}</code></p></header>",
            _numbers(m),
            _chart(m.series, step=m.step),
            _candidates(m),
            _endpoints(m),
            _lists(m),
            _holds(m),
            "</body></html>\n",
        ]
    )


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _number(label: str, value: str, note: str = "") -> str:
    return (
        f'<div class="number"><b>{value}</b>{_e(label)}<br>'
        f'<span class="muted">{_e(note)}</span></div>'
    )


def _numbers(m: MigrationMap) -> str:
    holds, gap = decommission(m), m.coverage_gap
    if holds:
        verdict = f'<span class="bad">{len(holds)} still hold the monolith up</span>'
    elif gap is not None:
        verdict = f'<span class="bad">no evidence yet: {_e(gap)}</span>'
    else:
        verdict = '<span class="ok">the monolith can be switched off</span>'

    return (
        '<section class="numbers" id="summary">'
        + _number(
            "of requests served by services",
            percent_html(m.request_share_served),
            f"{m.served_by_services} of {m.requests}",
        )
        + _number(
            "of endpoints moved",
            percent_html(m.endpoint_share_moved),
            f"{m.endpoints_moved} of {len(m.rows)}; {m.endpoints_claimed} claimed",
        )
        + _number("next candidates", str(len(m.candidates())), "no capability, with traffic")
        + _number("unused endpoints", str(len(m.unused())), "no traffic: delete them")
        + _number(
            "unknown requests",
            percent_html(share(m.unknown.requests, m.requests)),
            f"{m.unknown.requests} matched no endpoint",
        )
        + f"</section><p>Decommission: {verdict}.</p>"
    )


def _chart(series: Sequence[Point], *, step: str) -> str:
    """One column per hour or day: the share served by services from the bottom (green),
    the monolith's above it; a bucket with no traffic is left empty, not drawn as zero. The
    picture starts at the first bucket with traffic (counting began then)."""
    first = next((i for i, p in enumerate(series) if p.requests), 0)
    points = series[first:]
    width, height = 1000, 260
    left, right, top, bottom = 56, 16, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    out = [
        f'<h2>Share served by services, per {_e(step)}</h2><figure><svg id="{CHART_ID}"'
        f' role="img" viewBox="0 0 {width} {height}" width="100%"'
        ' preserveAspectRatio="xMidYMid meet"'
        ' aria-label="share of requests served by services per time bucket">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff"'
        ' stroke="#d1d9e0"/>',
    ]
    for tick in range(5):
        y = top + plot_h - plot_h * tick / 4
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"'
            ' stroke="#eaeef2"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick * 25}%</text>'
        )
    if points:
        slot = plot_w / len(points)
        every = max(1, -(-len(points) // 8))
        fmt = "%m-%d" if step == "day" else "%H:%M"
        line: list[str] = []
        for i, point in enumerate(points):
            x = left + slot * i
            if i % every == 0:
                out.append(
                    f'<text x="{x + slot / 2:.1f}" y="{top + plot_h + 18}"'
                    f' text-anchor="middle">{_e(point.start.strftime(fmt))}</text>'
                )
            rate = point.service_share
            if rate is None:
                continue
            served_h = plot_h * rate
            title = (
                f"<title>{_e(when(point.start))}: {percent_html(rate)} of {point.requests}"
                " requests served by services</title>"
            )
            bar = max(slot * 0.8, 1.0)
            x0 = x + (slot - bar) / 2
            out.append(
                f'<rect class="monolith" x="{x0:.1f}" y="{top}" width="{bar:.1f}"'
                f' height="{plot_h - served_h:.1f}" fill="{MONOLITH}">{title}</rect>'
                f'<rect class="services" x="{x0:.1f}" y="{top + plot_h - served_h:.1f}"'
                f' width="{bar:.1f}" height="{served_h:.1f}" fill="{SERVICES}">{title}</rect>'
            )
            line.append(f"{x + slot / 2:.1f},{top + plot_h - served_h:.1f}")
        if len(line) > 1:
            out.append(
                f'<polyline points="{" ".join(line)}" fill="none" stroke="#116329"'
                ' stroke-width="2" stroke-linejoin="round"/>'
            )
    if not any(p.requests for p in points):
        out.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">'
            "no traffic counted in this window</text>"
        )
    out.append("</svg>")
    out.append(
        '<figcaption class="legend">'
        f'<span><span class="swatch" style="background:{SERVICES}"></span>services</span>'
        f'<span><span class="swatch" style="background:{MONOLITH}"></span>the monolith</span>'
        "</figcaption></figure>"
    )
    return "".join(out)


def _methods(row: EndpointRow) -> str:
    return methods(row.methods, sep=" ", any_method="any")


def _capability(row: EndpointRow) -> str:
    if not row.capabilities:
        return "&ndash;"
    return "<br>".join(f"{_e(c)} <span class='muted'>{_e(m)}</span>" for c, m in row.modes.items())


def _candidates(m: MigrationMap) -> str:
    rows = [
        [
            str(rank),
            f"<code>{_e(r.key)}</code>",
            _e(_methods(r)),
            str(r.requests),
            percent_html(share(r.requests, m.requests)),
            _e(when(r.last_seen)),
        ]
        for rank, r in enumerate(m.candidates(), 1)
    ]
    if not rows:
        return "<h2>Next candidates</h2><p>Every endpoint with traffic is claimed.</p>"
    return "<h2>Next candidates (no capability, by traffic)</h2>" + table_html(
        ("#", "endpoint", "methods", "requests", "share", "last seen"), rows, numeric={0, 3, 4}
    )


def _endpoints(m: MigrationMap) -> str:
    rows = []
    for r in (*m.rows, *(u for u in m.unlisted if u.requests)):
        counted = r.counted
        rows.append(
            [
                f"<code>{_e(r.key)}</code>",
                _e(_methods(r)),
                _capability(r) + (" <span class='muted'>(in part)</span>" if r.partial else ""),
                str(r.requests) if counted else "&ndash;",
                percent_html(share(r.requests, m.requests)) if counted else "&ndash;",
                percent_html(r.service_share if r.requests else None),
                _e(when(r.last_seen)),
                _e(r.status),
            ]
        )
    return "<h2>Endpoints</h2>" + table_html(
        (
            "endpoint",
            "methods",
            "capability",
            "requests",
            "share",
            "served by services",
            "last seen",
            "status",
        ),
        rows,
        numeric={3, 4, 5},
    )


def _lists(m: MigrationMap) -> str:
    out = []
    for title, rows in (
        ("No traffic in the window: delete, do not migrate", m.unused()),
        ("Claimed in part", m.partial()),
        ("Retired: deletable in the monolith", m.deletable()),
        ("Not counted (patterns no template expresses)", m.uncounted()),
    ):
        if rows:
            items = "".join(f"<li><code>{_e(r.key)}</code></li>" for r in rows)
            out.append(f"<h3>{_e(title)} ({len(rows)})</h3><ul>{items}</ul>")
    return "".join(out)


def _holds(m: MigrationMap) -> str:
    holds, gap = decommission(m), m.coverage_gap
    if not holds and gap is not None:
        return f"<h2>Decommission</h2><p class='bad'>No evidence yet: {_e(gap)}.</p>"
    if not holds:
        return (
            "<h2>Decommission</h2><p class='ok'>Nothing outside retired capabilities had traffic"
            " in the window.</p>"
        )
    rows = [
        [
            f"<code>{_e(h.endpoint)}</code>",
            str(h.requests),
            str(h.served_by_legacy),
            _e(", ".join(h.capabilities)) or "&ndash;",
            _e(when(h.last_seen)),
        ]
        for h in holds
    ]
    return "<h2>What still holds the monolith up</h2>" + table_html(
        ("endpoint", "requests", "served by the monolith", "capability", "last seen"),
        rows,
        numeric={1, 2},
    )
