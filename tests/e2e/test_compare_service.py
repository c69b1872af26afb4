"""The compare service as a mirror would use it: real processes on free ports, requests sent
as Envoy's mirror sends them (``Host: ...-shadow``), then ``strangler report`` showing the
comparisons with the mismatch rate planted in the candidate; a slow monolith and candidate
never delay the mirror's answer, and what does not fit the bounds is dropped and counted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.compare_stack import (
    Stack,
    mirror,
    report,
    running,
    total,
)
from tests.support.probe import get_body, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ITEMS = 40  # /api/items/1..40: the candidate is wrong for every 4th, 10 in all
SLOW_MONOLITH = 1.0
SLOW_CANDIDATE = 2.0


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A monolith, a candidate wrong for every 4th item, a compare service fed 40 mirrored
    GETs, a mirrored POST and a request for a capability not in shadow mode."""
    state = tmp_path_factory.mktemp("compare-e2e")
    # every request's twin too: the monolith asked twice, its noise learned
    with running(
        state, "--host-suffix", "-shadow", noise="noise: auto, noise_sample: 100%"
    ) as stack:
        compare = stack.compare
        for n in range(1, ITEMS + 1):
            with mirror(compare.url, f"/api/items/{n}") as answer:
                assert answer.status == 202
                assert answer.read() == b""
        with mirror(compare.url, "/api/items/1", method="POST", body=b"{}") as answer:
            assert answer.status == 202  # unsafe: ignored
        with mirror(compare.url, "/api/orders", method="POST", body=b"{}") as answer:
            assert answer.status == 202  # legacy mode: ignored
        wait_until(
            lambda: total(compare, "strangler_shadow_comparisons_total") == ITEMS,
            "every mirrored GET is compared",
        )
        yield stack


def test_only_shadow_capabilities_and_safe_methods_reach_the_upstreams(planted: Stack) -> None:
    seen = json.loads(get_body(planted.monolith.url + "/_seen"))
    assert seen["count"] == 2 * ITEMS  # the control and its twin per compared request
    assert seen["hosts"] == ["shop.example"]  # --host-suffix -shadow: removed
    assert json.loads(get_body(planted.candidate.url + "/_seen"))["count"] == ITEMS


def test_ignored_requests_are_counted_by_reason(planted: Stack) -> None:
    assert total(planted.compare, "strangler_compare_mirrored_total", reason="unsafe_method") == 1
    assert total(planted.compare, "strangler_compare_mirrored_total", reason="not_shadow") == 1
    assert total(planted.compare, "strangler_compare_mirrored_total", outcome="compared") == ITEMS


def test_the_report_shows_the_planted_mismatch_rate(planted: Stack) -> None:
    # last of the planted stack's tests: a clean stop flushes the store
    assert planted.compare.stop() == 0
    cap = report(planted.routes)
    assert cap["mode"] == "shadow"
    assert cap["comparisons"] == ITEMS
    assert cap["mismatches"] == ITEMS // 4
    assert cap["mismatch_rate"] == pytest.approx(0.25)
    assert "$.price" in {p["path"] for p in cap["top_paths"]}


def test_slow_upstreams_never_delay_the_mirror_and_overflow_is_counted(tmp_path: Path) -> None:
    with running(
        tmp_path, "--queue", "2", delays=(SLOW_MONOLITH, SLOW_CANDIDATE), concurrency=1
    ) as stack:
        routes, compare = stack.routes, stack.compare
        slowest = 0.0
        for n in range(1, 7):
            started = time.perf_counter()
            with mirror(compare.url, f"/api/items/{n}") as answer:
                assert answer.status == 202
            slowest = max(slowest, time.perf_counter() - started)
        # the mirror's answer does not wait for either upstream
        assert slowest < SLOW_MONOLITH / 4
        # two wait for the monolith, four find the queue full
        assert total(compare, "strangler_shadow_dropped_total", reason="mirror_queue_full") == 4
        # of the two, the candidate (max_concurrency 1) takes one; the other is dropped as busy
        wait_until(
            lambda: total(compare, "strangler_shadow_dropped_total", reason="busy") == 1,
            "the second job finds the candidate busy",
        )
        wait_until(
            lambda: total(compare, "strangler_shadow_comparisons_total") == 1,
            "the admitted job is compared",
        )
        assert compare.stop() == 0
        cap = report(routes)
        assert cap["comparisons"] == 1
        assert cap["dropped"] == 4  # the queue's drops reach the store too


def test_a_routes_yaml_change_is_followed(tmp_path: Path) -> None:
    with running(tmp_path) as stack:
        routes, compare = stack.routes, stack.compare
        with mirror(compare.url, "/api/items/1") as answer:
            assert answer.status == 202
        wait_until(
            lambda: total(compare, "strangler_shadow_comparisons_total") == 1, "one comparison"
        )
        routes.write_text(routes.read_text().replace("mode: shadow", "mode: legacy"))

        def ignored() -> bool:
            with mirror(compare.url, "/api/items/2") as answer:
                assert answer.status == 202
            return total(compare, "strangler_compare_mirrored_total", reason="not_shadow") > 0

        wait_until(ignored, "the capability out of shadow mode is ignored")


def test_drops_reach_the_store_before_any_comparison_was_made(tmp_path: Path) -> None:
    # 1 KiB of bodies at most: each 2 KiB GET is dropped
    with running(tmp_path, "--queue-mb", "0.001") as stack:
        routes, compare = stack.routes, stack.compare
        for _ in range(3):
            with mirror(compare.url, "/api/items/1", method="GET", body=b"x" * 2048) as answer:
                assert answer.status == 202
        assert total(compare, "strangler_shadow_dropped_total", reason="mirror_queue_full") == 3
        assert compare.stop() == 0
        cap = report(routes)
        assert (cap["comparisons"], cap["dropped"]) == (0, 3)
        assert json.loads(get_body(stack.monolith.url + "/_seen"))["count"] == 0
