"""The map's HTML page: self-contained, escaped, the picture's gaps where nothing was counted."""

from __future__ import annotations

import re
from datetime import timedelta

from facade.config.endpoints import UNKNOWN_ENDPOINT
from parallel_run.endpoint_traffic import MinuteServed
from strangler.map.html import CHART_ID, render_map_html
from tests.unit.strangler.map.test_model import NOW, built, total

HOSTILE = '/x/<img src=x onerror="alert(1)">'


def test_the_page_is_self_contained_and_escapes_every_key() -> None:
    page = render_map_html(built(totals=[total(HOSTILE, 3), total(UNKNOWN_ENDPOINT, 1)]))
    assert "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    # nothing fetched from anywhere: no script, no external stylesheet, image or font
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert f'id="{CHART_ID}"' in page


def test_the_page_shows_the_summary_candidates_and_what_holds_the_monolith_up() -> None:
    page = render_map_html(built())
    assert "of requests served by services" in page
    assert "Next candidates" in page
    assert "<code>/search</code>" in page
    assert "What still holds the monolith up" in page
    assert "/account" in page  # unused


def test_a_map_with_only_retired_traffic_says_the_monolith_can_be_switched_off() -> None:
    page = render_map_html(
        built(totals=[total("/old/reports", 5, capability="reports", served_by="reports")])
    )
    assert "the monolith can be switched off" in page
    assert "What still holds the monolith up" not in page


def test_a_map_without_tallies_over_the_whole_window_never_says_switch_it_off() -> None:
    retired = [total("/old/reports", 5, capability="reports", served_by="reports")]
    for page in (
        render_map_html(built(totals=[], counted_since=None)),
        render_map_html(built(totals=retired, counted_since=NOW - timedelta(hours=1))),
    ):
        assert "can be switched off" not in page
        assert "no traffic counted since" in page


def test_the_picture_draws_a_column_per_bucket_with_traffic_and_leaves_gaps() -> None:
    minutes = [
        MinuteServed(NOW - timedelta(hours=5), legacy=3, services=1),
        MinuteServed(NOW - timedelta(hours=2), legacy=1, services=3),
    ]
    page = render_map_html(built(minutes=minutes, window=timedelta(hours=6)))
    assert page.count('class="services"') == 2
    assert "25% of 4 requests served by services" in page
    assert "75% of 4 requests served by services" in page
    assert "<polyline" in page


def test_a_window_without_traffic_says_so_in_the_picture() -> None:
    page = render_map_html(built(totals=[]))
    assert "no traffic counted in this window" in page
    assert 'class="services"' not in page
