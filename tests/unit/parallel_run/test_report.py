"""build_report() on a real SQLite result store, and render_html() on what it builds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from parallel_run import sync_evidence as se
from parallel_run.html_report import CHART_ID, render_html
from parallel_run.noise import FORMAT_VERSION, NoiseTracker
from parallel_run.noise_counts import tracker_to_counts
from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.report import ExampleSync, build_report, load_examples, pretty_body
from parallel_run.stats import wilson_interval
from parallel_run.store import MismatchTally, ResultStore, minute_of

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=24)
CAP = "product-catalog"


def _diff(path: str, control: Any = 1, candidate: Any = 2) -> dict[str, Any]:
    return {
        "path": path,
        "template_path": path,
        "kind": "value",
        "control": control,
        "candidate": candidate,
    }


def _record(**overrides: Any) -> ObservationRecord:
    fields: dict[str, Any] = {
        "experiment": CAP,
        "route": "/api/products/{sku}",
        "method": "GET",
        "path": "/api/products/SKU-1",
        "outcome": "match",
        "control_status": 200,
        "candidate_status": 200,
        "control_ms": 10.0,
        "candidate_ms": 20.0,
        "control_headers": (("Content-Type", "application/json"),),
        "candidate_headers": (("Content-Type", "application/json"),),
        "control_body": b'{"sku": "SKU-1", "price": 1}',
        "candidate_body": b'{"sku": "SKU-1", "price": 1}',
        "created_at": NOW - timedelta(hours=1),
    }
    fields.update(overrides)
    return ObservationRecord(**fields)


def _mismatch(*paths: str, **overrides: Any) -> ObservationRecord:
    return _record(
        outcome="mismatch",
        differences=tuple(_diff(p) for p in paths),
        signature="\n".join(sorted(paths)),
        candidate_body=b'{"sku": "SKU-1", "price": 2}',
        **overrides,
    )


def _error(text: str, **overrides: Any) -> ObservationRecord:
    return _record(
        outcome="candidate_error",
        candidate_status=None,
        candidate_error=text,
        candidate_body=None,
        candidate_ms=2000.0,
        differences=(
            {
                "path": "error",
                "template_path": "error",
                "kind": "value",
                "control": None,
                "candidate": text,
            },
        ),
        signature="error",
        **overrides,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    opened = ResultStore.open(f"sqlite:///{tmp_path}/store.db", redactor=Redactor())
    yield opened
    opened.close()


def test_counts_rates_wilson_interval_timeouts_drops_and_latencies(store: ResultStore) -> None:
    store.write([_record(control_ms=float(ms), candidate_ms=float(2 * ms)) for ms in range(1, 91)])
    store.write([_mismatch("$.price") for _ in range(10)])
    store.write([_error("timeout"), _error("timeout"), _error("ConnectionResetError: reset")])
    store.write([_record(outcome="ignored")])
    store.add_drops(CAP, 4, at=NOW - timedelta(hours=2))
    store.add_drops(CAP, 9, at=NOW - timedelta(days=3))  # before the window

    report = build_report(store, since=SINCE, modes={CAP: "shadow"}, now=NOW)

    cap = report.capability(CAP)
    assert cap is not None
    assert cap.mode == "shadow"
    assert (cap.comparisons, cap.matches, cap.mismatches, cap.ignored) == (104, 90, 10, 1)
    assert (cap.candidate_errors, cap.timeouts, cap.dropped) == (3, 2, 4)
    assert cap.mismatch_rate == pytest.approx(13 / 103)
    assert cap.mismatch_rate_ci == pytest.approx(wilson_interval(13, 103))
    low, high = cap.mismatch_rate_ci
    assert low < cap.mismatch_rate < high
    # nearest rank 52 among 1..90 and fourteen more 10.0s; rank 103 of 104 for p99
    assert (cap.legacy_ms.p50, cap.legacy_ms.p99) == (38.0, 89.0)
    assert cap.candidate_ms.p99 == 2000.0


def test_one_bug_is_one_signature_row_however_many_requests_it_touched(
    store: ResultStore,
) -> None:
    price_bug = [
        _mismatch("$.price", "$.currency", path=f"/api/products/SKU-{i}") for i in range(10)
    ]
    name_bug = [_mismatch("$.name") for _ in range(2)]
    store.write([*price_bug, *name_bug, _record()])

    cap = build_report(store, since=SINCE, now=NOW).capabilities[0]

    assert [(s.paths, s.count) for s in cap.signatures] == [
        (("$.currency", "$.price"), 10),
        (("$.name",), 2),
    ]
    assert cap.signatures[0].example_id in {r.id for r in price_bug}
    assert cap.signatures[1].example_id in {r.id for r in name_bug}


def test_top_paths_are_counted_per_comparison_with_an_example_each(store: ResultStore) -> None:
    store.write([_mismatch("$.price") for _ in range(3)])
    both = [_mismatch("$.price", "$.stock") for _ in range(2)]
    store.write(both)

    cap = build_report(store, since=SINCE, now=NOW).capabilities[0]

    assert [(p.path, p.count) for p in cap.top_paths] == [("$.price", 5), ("$.stock", 2)]
    assert cap.top_paths[1].example_id in {r.id for r in both}
    assert store.observation(cap.top_paths[0].example_id) is not None


def test_capabilities_without_evidence_appear_with_zero_counts_in_routes_order(
    store: ResultStore,
) -> None:
    store.write([_record(experiment="old-seam")])
    modes = {"orders": "legacy", CAP: "shadow"}

    report = build_report(store, since=SINCE, modes=modes, now=NOW)

    assert [(c.name, c.mode) for c in report.capabilities] == [
        ("orders", "legacy"),
        (CAP, "shadow"),
        ("old-seam", "unknown"),
    ]
    orders = report.capabilities[0]
    assert (orders.comparisons, orders.mismatch_rate, orders.mismatch_rate_ci) == (0, 0.0, (0, 1))
    assert orders.top_paths == orders.signatures == orders.noise_paths == ()
    # one time axis for every capability: the span of what was recorded
    assert [p.start for p in orders.timeline] == [p.start for p in report.capabilities[2].timeline]
    assert all(p.comparisons == 0 and p.mismatch_rate is None for p in orders.timeline)


def test_one_capability_can_be_asked_for(store: ResultStore) -> None:
    store.write([_mismatch("$.price"), _record(experiment="orders")])
    modes = {"orders": "shadow", CAP: "shadow"}

    report = build_report(store, since=SINCE, capability=CAP, modes=modes, now=NOW)

    assert [c.name for c in report.capabilities] == [CAP]
    assert report.capabilities[0].mismatches == 1


def test_no_store_gives_a_zero_count_report() -> None:
    report = build_report(None, since=SINCE, modes={CAP: "legacy"}, now=NOW)
    assert [(c.name, c.comparisons, c.dropped) for c in report.capabilities] == [(CAP, 0, 0)]


def test_learned_noise_paths_are_reported_and_real_mismatch_paths_are_not(
    store: ResultStore,
) -> None:
    route = "/api/products/{sku}"
    paths = [
        # differs in every pair of legacy answers, and as often against the candidate
        {"path": "$.generated_at", "kind": "value", "twin_diffs": 50, "diffs": 40},
        # never differs between legacy answers: the candidate's differences are a bug
        {"path": "$.price", "kind": "value", "twin_diffs": 0, "diffs": 10},
        # a noisy field changing its type in the candidate is not noise
        {"path": "$.generated_at", "kind": "type", "twin_diffs": 0, "diffs": 5},
    ]
    tracker = NoiseTracker.from_dict(
        {
            "version": FORMAT_VERSION,
            "routes": {
                route: {"twin_samples": 50, "samples": 40, "paths": paths},
                # too few twin calls to call anything noise yet
                "/api/orders": {
                    "twin_samples": 3,
                    "samples": 3,
                    "paths": [{"path": "$.at", "kind": "value", "twin_diffs": 3, "diffs": 3}],
                },
            },
        }
    )
    store.add_noise_counts(tracker_to_counts(tracker, experiment=CAP))
    store.add_noise_counts(tracker_to_counts(tracker, experiment="elsewhere"))

    cap = build_report(store, since=SINCE, modes={CAP: "shadow"}, now=NOW).capabilities[0]

    assert [(n.route, n.path, n.kind, n.twin_rate, n.rate) for n in cap.noise_paths] == [
        (route, "$.generated_at", "value", 1.0, 1.0)
    ]


def test_mismatches_recorded_before_a_field_was_known_as_noise_are_excused_later(
    store: ResultStore,
) -> None:
    route = "/api/products/{sku}"
    # early on, before any twin call: the timestamp's difference was recorded as a mismatch
    early = [_mismatch("$.generated_at") for _ in range(3)]
    real = _mismatch("$.generated_at", "$.price")  # noise and a real bug: still a mismatch
    store.write([*early, real, _record(), _record()])
    tracker = NoiseTracker.from_dict(
        {
            "version": FORMAT_VERSION,
            "routes": {
                route: {
                    "twin_samples": 50,
                    "samples": 40,
                    "paths": [
                        {"path": "$.generated_at", "kind": "value", "twin_diffs": 50, "diffs": 40},
                        {"path": "$.price", "kind": "value", "twin_diffs": 0, "diffs": 1},
                    ],
                }
            },
        }
    )
    store.add_noise_counts(tracker_to_counts(tracker, experiment=CAP))

    cap = build_report(store, since=SINCE, modes={CAP: "shadow"}, now=NOW).capabilities[0]

    assert (cap.comparisons, cap.matches, cap.mismatches, cap.excused) == (6, 5, 1, 3)
    # only the real mismatch is counted, by its real path: noise is no path's fault
    assert {row.path: row.count for row in cap.top_paths} == {"$.price": 1}
    assert [(row.paths, row.count) for row in cap.signatures] == [(("$.price",), 1)]
    assert sum(point.mismatches for point in cap.timeline) == 1
    assert cap.to_dict()["excused_as_noise"] == 3


def test_a_path_learned_as_noise_leaves_the_top_paths_and_the_signatures(
    store: ResultStore,
) -> None:
    route = "/api/products/{sku}"
    store.write(
        [
            *[_mismatch("$.request_id", "$.unit_price") for _ in range(2)],
            *[_mismatch("$.unit_price") for _ in range(3)],
            *[_mismatch("$.request_id") for _ in range(4)],  # noise alone: excused
        ]
    )
    # past the examples kept per signature, mismatches are tallied by shape: the same rule
    both = MismatchTally(CAP, route, minute_of(NOW - timedelta(hours=1)), "mismatch",
                         "$.request_id\n$.unit_price",
                         shape=(("$.request_id", "value"), ("$.unit_price", "value")))  # fmt: skip
    both.add(10.0, 20.0, count=5)
    store.add_mismatch_tallies([both])
    store.add_noise_counts(tracker_to_counts(_learned(route, "$.request_id"), experiment=CAP))

    cap = build_report(store, since=SINCE, modes={CAP: "shadow"}, now=NOW).capabilities[0]

    # one bug is one row: `$.request_id + $.unit_price` is the `$.unit_price` bug
    assert [(row.signature, row.count) for row in cap.signatures] == [("$.unit_price", 10)]
    assert cap.signatures[0].example_id  # a stored example of it
    assert [(row.path, row.count) for row in cap.top_paths] == [("$.unit_price", 10)]
    assert (cap.mismatches, cap.excused) == (10, 4)
    assert [(n.path, n.route) for n in cap.noise_paths] == [("$.request_id", route)]


def _learned(route: str, noisy: str) -> NoiseTracker:
    """A tracker that has seen ``noisy`` differ between every pair of legacy twins."""
    return NoiseTracker.from_dict(
        {
            "version": FORMAT_VERSION,
            "routes": {
                route: {
                    "twin_samples": 50,
                    "samples": 40,
                    "paths": [{"path": noisy, "kind": "value", "twin_diffs": 50, "diffs": 40}],
                }
            },
        }
    )


def test_without_learned_noise_nothing_is_excused(store: ResultStore) -> None:
    store.write([_mismatch("$.generated_at"), _record()])
    cap = build_report(store, since=SINCE, modes={CAP: "shadow"}, now=NOW).capabilities[0]
    assert (cap.matches, cap.mismatches, cap.excused) == (1, 1, 0)


def test_the_timeline_spans_the_data_oldest_first(store: ResultStore) -> None:
    store.write(
        [
            _record(created_at=SINCE + timedelta(minutes=10, seconds=20)),
            _mismatch("$.price", created_at=NOW - timedelta(minutes=90)),
            _record(created_at=NOW - timedelta(minutes=80)),
            _record(outcome="ignored", created_at=NOW - timedelta(minutes=70, seconds=30)),
            _record(created_at=SINCE - timedelta(minutes=1)),  # before the window
        ]
    )

    cap = build_report(store, since=SINCE, now=NOW, buckets=24).capabilities[0]

    # from the minute of the first comparison to the end of the minute of the last
    start, end = SINCE + timedelta(minutes=10), NOW - timedelta(minutes=70)
    width = (end - start) / 24
    assert [p.start for p in cap.timeline] == [start + width * i for i in range(24)]
    assert (cap.timeline[0].comparisons, cap.timeline[0].mismatch_rate) == (1, 0.0)
    bucket = cap.timeline[-1]
    assert (bucket.comparisons, bucket.judged, bucket.mismatches) == (3, 2, 1)
    assert bucket.mismatch_rate == 0.5
    assert sum(p.comparisons for p in cap.timeline) == 4
    assert cap.timeline[5].mismatch_rate is None


def test_a_short_run_fills_the_axis_in_buckets_of_a_minute_or_more(store: ResultStore) -> None:
    first = NOW - timedelta(hours=3, minutes=1, seconds=40)
    store.write(
        [
            _record(created_at=first),
            _mismatch("$.price", created_at=first + timedelta(seconds=50)),
            _record(created_at=first + timedelta(seconds=80)),
        ]
    )

    cap = build_report(store, since=SINCE, now=NOW, buckets=24).capabilities[0]

    # 08:58:20 to 08:59:40: two minutes, not a dot on a 24-hour axis; no bucket is narrower
    # than a minute (matches may be stored as per-minute tallies)
    minute = NOW - timedelta(hours=3, minutes=2)
    assert [p.start for p in cap.timeline] == [minute, minute + timedelta(minutes=1)]
    assert [(p.comparisons, p.mismatches) for p in cap.timeline] == [(1, 0), (2, 1)]


def test_without_data_the_timeline_spans_the_window(store: ResultStore) -> None:
    cap = build_report(store, since=SINCE, modes={CAP: "shadow"}, now=NOW).capabilities[0]
    assert [p.start for p in cap.timeline] == [SINCE + timedelta(hours=h) for h in range(24)]


def test_the_json_has_the_contract_shape(store: ResultStore) -> None:
    store.write([_mismatch("$.price"), _record(), _error("timeout")])

    data = json.loads(json.dumps(build_report(store, since=SINCE, now=NOW).to_dict()))

    assert data["since"] == SINCE.isoformat()
    assert data["generated_at"] == NOW.isoformat()
    (cap,) = data["capabilities"]
    for key in (
        "name", "mode", "comparisons", "matches", "mismatches", "ignored", "mismatch_rate",
        "mismatch_rate_ci", "candidate_errors", "timeouts", "dropped", "latency_ms",
        "top_paths", "signatures", "noise_paths", "timeline",
    ):  # fmt: skip
        assert key in cap, key
    assert cap["latency_ms"] == {
        "legacy": {"p50": 10.0, "p99": 10.0},
        "candidate": {"p50": 20.0, "p99": 2000.0},
    }
    assert set(cap["top_paths"][0]) == {"path", "count", "example_id"}
    assert set(cap["signatures"][0]) == {"signature", "paths", "count", "example_id"}
    assert {"start", "comparisons", "mismatches"} <= set(cap["timeline"][0])
    assert len(cap["mismatch_rate_ci"]) == 2


# -- HTML ------------------------------------------------------------------------------------


class _Scan(HTMLParser):
    """Collects where text and attribute values sit, to find URLs outside escaped data."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.texts: list[tuple[tuple[str, ...], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(value or "" for _, value in attrs)
        if tag not in ("br", "meta", "line", "rect", "circle", "polyline"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.texts.append((tuple(self.stack), data))


EVIL = (
    b'<html><script src="https://evil.example/x.js"></script>'
    b'<img src="http://evil.example/p.png" onerror="alert(1)"></html>'
)


def _html_report(store: ResultStore) -> str:
    store.write([_record(), _record(created_at=NOW - timedelta(minutes=90))])
    store.write(
        [
            _record(
                outcome="mismatch",
                differences=(_diff("body", "<script>alert(1)</script>", "https://evil.example"),),
                signature="body",
                candidate_headers=(("Content-Type", "text/html"),),
                candidate_body=EVIL,
                path="/api/products/<script>",
            )
        ]
    )
    report = build_report(store, since=SINCE, modes={CAP: "shadow", "orders": "legacy"}, now=NOW)
    return render_html(report, load_examples(store, report.example_ids()))


def test_html_escapes_untrusted_bodies_and_values(store: ResultStore) -> None:
    page = _html_report(store)
    scan = _Scan()
    scan.feed(page)

    assert "script" not in scan.tags
    assert "img" not in scan.tags
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script src=&quot;https://evil.example/x.js&quot;&gt;" in page
    assert "onerror" not in "".join(scan.attributes)


def test_html_is_self_contained(store: ResultStore) -> None:
    page = _html_report(store)
    scan = _Scan()
    scan.feed(page)

    assert not any("//" in value or value.startswith("data:") for value in scan.attributes)
    outside = [text for stack, text in scan.texts if not {"pre", "code"} & set(stack)]
    assert not any("http://" in t or "https://" in t for t in outside), outside
    assert "url(" not in page
    assert "<link" not in page
    clean = render_html(build_report(None, since=SINCE, modes={CAP: "legacy"}, now=NOW), {})
    assert "http://" not in clean
    assert "https://" not in clean


def test_html_has_the_chart_tables_and_a_side_by_side_example(store: ResultStore) -> None:
    page = _html_report(store)
    scan = _Scan()
    scan.feed(page)

    assert f'<svg id="{CHART_ID}"' in page
    # judged at 10:30 and 11:00: the first and the last bucket of an axis spanning the data
    assert page.count("<circle") == 2  # one point per bucket with judged comparisons
    assert page.count("<polyline") == 0  # nothing judged between them: a gap, not a line
    assert ">10:30</text>" in page
    assert 'id="cap-orders"' in page
    assert "Top differing paths" in page
    assert "Mismatches by signature" in page
    assert 'class="sides"' in page
    # the legacy body is pretty-printed JSON, shown beside the candidate's (escaped) HTML
    assert json.dumps({"sku": "SKU-1", "price": 1}, indent=2).replace('"', "&quot;") in page


def test_pretty_body_indents_json_and_cuts_long_text() -> None:
    assert pretty_body(b'{"a":[1,2]}') == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert pretty_body(None) == "(no body)"
    assert pretty_body(b"\xff" + b"x" * 50, limit=10).startswith("\ufffdxxxxxxxxx\n")


# data sync: examples seen while their key was on its way -----------------------------------


def _key_of(record: ObservationRecord) -> str | None:
    return record.path.rsplit("/", 1)[-1] or None


def _stale_and_fresh(store: ResultStore) -> tuple[ObservationRecord, ObservationRecord]:
    """A price mismatch of SKU-3 seen 2 s after its change was captured (applied 5 s after),
    and a name mismatch of SKU-4 seen while only SKU-3 was on its way."""
    seen = NOW - timedelta(hours=1)
    stale = _mismatch("$.price", path="/api/products/SKU-3", created_at=seen)
    fresh = _mismatch("$.name", path="/api/products/SKU-4", created_at=seen)
    store.write([stale, fresh, _record()])
    se.record_windows(
        store,
        [
            se.SyncWindow(CAP, "SKU-3", seen - timedelta(seconds=2), seen + timedelta(seconds=3)),
            se.SyncWindow(CAP, "SKU-4", seen + timedelta(seconds=1), seen + timedelta(seconds=2)),
        ],
    )
    return stale, fresh


def test_an_example_seen_while_its_key_was_on_its_way_is_possibly_stale(
    store: ResultStore,
) -> None:
    stale, fresh = _stale_and_fresh(store)
    built = build_report(store, since=SINCE, now=NOW, sync_keys={CAP: _key_of})
    cap = built.capability(CAP)
    assert cap is not None
    assert cap.mismatches == 2  # still counted: the flag is for the reader
    by_example = {row.example_id: row.sync for row in cap.signatures}
    assert by_example[stale.id] == ExampleSync(lag_seconds=2.0, possibly_stale=True)
    assert by_example[fresh.id] == ExampleSync(lag_seconds=2.0, possibly_stale=False)
    as_json = {row["example_id"]: row for row in cap.to_dict()["signatures"]}
    assert as_json[stale.id]["possibly_stale"] is True
    assert as_json[stale.id]["sync_lag_seconds"] == 2.0
    paths = {row["path"]: row for row in cap.to_dict()["top_paths"]}
    assert paths["$.price"]["possibly_stale"] is True


def test_without_data_sync_the_examples_carry_no_sync_fields(store: ResultStore) -> None:
    _stale_and_fresh(store)
    cap = build_report(store, since=SINCE, now=NOW).capability(CAP)
    assert cap is not None
    assert all(row.sync is None for row in cap.signatures)
    assert "possibly_stale" not in cap.to_dict()["signatures"][0]


def test_without_a_key_the_lag_is_still_shown(store: ResultStore) -> None:
    _stale_and_fresh(store)
    built = build_report(store, since=SINCE, now=NOW, sync_keys={CAP: lambda record: None})
    cap = built.capability(CAP)
    assert cap is not None
    assert {row.sync for row in cap.signatures} == {ExampleSync(2.0, False)}


def test_html_marks_a_possibly_stale_example(store: ResultStore) -> None:
    _stale_and_fresh(store)
    built = build_report(store, since=SINCE, now=NOW, sync_keys={CAP: _key_of})
    page = render_html(built, load_examples(store, built.example_ids()))
    assert page.count(">(stale?)</span>") == 2  # its signature row and its path row
    assert "lag 2.0s" in page
