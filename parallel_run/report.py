"""The parallel-run report: per capability, what the comparisons of a window say.

``build_report()`` reads a ``ResultStore`` (and nothing else) into a frozen ``Report``: counts,
the mismatch rate with its Wilson 95% interval, candidate errors and timeouts, drops, latency
percentiles, the most often differing JSON paths and the mismatch signatures (one row per set
of differing paths: one bug is one row however many requests it touched), the fields learned
as noise, and outcome counts over time for a chart. ``Report.to_dict()`` is the JSON that
``strangler report --json`` prints; ``parallel_run.html_report`` renders the same tree as a
page. The mismatch rate is the store's: mismatches and candidate errors among the judged
comparisons (matches, mismatches, candidate errors; ``ignored`` ones are left out).

For a capability whose data a relay keeps in step (``data.sync``), each example gets the sync
lag at the moment it was observed and ``possibly_stale`` when its key had a change captured and
not yet applied then (``parallel_run.sync_evidence`` windows): the service may only have been
behind. Such mismatches stay counted as mismatches; the flag is for the reader.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from parallel_run.noise import PathCounts
from parallel_run.noise_counts import tracker_from_counts
from parallel_run.record import ObservationRecord
from parallel_run.stats import wilson_interval
from parallel_run.store import (
    Excuse,
    ExperimentSummary,
    NoiseCount,
    Percentiles,
    ResultStore,
    TimeBucket,
    minute_of,
)
from parallel_run.sync_evidence import lag_at, unapplied_at

TIMEOUT_ERROR = "timeout"
"""The candidate error text the shadow stage records when the candidate ran out of time."""
UNKNOWN_MODE = "unknown"
"""The mode of an experiment with evidence in the store but no capability in routes.yaml."""
DEFAULT_BUCKETS = 24
DEFAULT_TOP = 10


@dataclass(frozen=True, slots=True)
class Latency:
    """Nearest-rank percentiles in milliseconds; None when nothing was measured."""

    p50: float | None = None
    p99: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"p50": self.p50, "p99": self.p99}


KeyOf = Callable[[ObservationRecord], str | None]
"""The data-sync key an observation's request names (``data.sync.key_param``), or None."""


@dataclass(frozen=True, slots=True)
class ExampleSync:
    """The data sync when an example was observed: the capability's lag then (None: no relay
    recorded any), and whether the example's key had a change on its way."""

    lag_seconds: float | None
    possibly_stale: bool

    def to_dict(self) -> dict[str, Any]:
        return {"sync_lag_seconds": self.lag_seconds, "possibly_stale": self.possibly_stale}


@dataclass(frozen=True, slots=True)
class PathRow:
    """A JSON path (template) that differed, in how many comparisons, and one of them."""

    path: str
    count: int
    example_id: str
    sync: ExampleSync | None = None  # the capability has data.sync and the example is stored

    def to_dict(self) -> dict[str, Any]:
        found = {"path": self.path, "count": self.count, "example_id": self.example_id}
        return found | ({} if self.sync is None else self.sync.to_dict())


@dataclass(frozen=True, slots=True)
class SignatureRow:
    """The comparisons whose differing paths were exactly ``paths``: one bug, one row."""

    signature: str
    paths: tuple[str, ...]
    count: int
    example_id: str
    sync: ExampleSync | None = None  # the capability has data.sync and the example is stored

    def to_dict(self) -> dict[str, Any]:
        found = {
            "signature": self.signature,
            "paths": list(self.paths),
            "count": self.count,
            "example_id": self.example_id,
        }
        return found | ({} if self.sync is None else self.sync.to_dict())


# a path learned as noise: it differs between two legacy answers about as often as between
# legacy and candidate (``parallel_run.noise``), so its differences are excused
NoisePath = PathCounts


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """Outcome counts in one slice of the window; ``mismatch_rate`` None when none judged."""

    start: datetime
    comparisons: int
    judged: int
    mismatches: int
    candidate_errors: int
    mismatch_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "comparisons": self.comparisons,
            "judged": self.judged,
            "mismatches": self.mismatches,
            "candidate_errors": self.candidate_errors,
            "mismatch_rate": self.mismatch_rate,
        }


@dataclass(frozen=True, slots=True)
class CapabilityReport:
    """One capability (or any experiment with evidence) over the report's window."""

    name: str
    mode: str
    comparisons: int = 0
    matches: int = 0
    mismatches: int = 0
    ignored: int = 0
    candidate_errors: int = 0
    timeouts: int = 0
    dropped: int = 0
    # examples not stored (store.max_bytes_per_capability reached); counted in every number
    examples_dropped: int = 0
    mismatch_rate: float = 0.0
    mismatch_rate_ci: tuple[float, float] = (0.0, 1.0)
    legacy_ms: Latency = Latency()
    candidate_ms: Latency = Latency()
    top_paths: tuple[PathRow, ...] = ()
    signatures: tuple[SignatureRow, ...] = ()
    noise_paths: tuple[NoisePath, ...] = ()
    timeline: tuple[TimelinePoint, ...] = ()
    latest_at: datetime | None = None
    excused: int = 0  # mismatches found to be noise after they were recorded (in matches)

    @property
    def judged(self) -> int:
        return self.matches + self.mismatches + self.candidate_errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "comparisons": self.comparisons,
            "matches": self.matches,
            "mismatches": self.mismatches,
            "excused_as_noise": self.excused,
            "ignored": self.ignored,
            "mismatch_rate": self.mismatch_rate,
            "mismatch_rate_ci": list(self.mismatch_rate_ci),
            "candidate_errors": self.candidate_errors,
            "timeouts": self.timeouts,
            "dropped": self.dropped,
            "examples_dropped": self.examples_dropped,
            "latency_ms": {
                "legacy": self.legacy_ms.to_dict(),
                "candidate": self.candidate_ms.to_dict(),
            },
            "top_paths": [row.to_dict() for row in self.top_paths],
            "signatures": [row.to_dict() for row in self.signatures],
            "noise_paths": [row.to_dict() for row in self.noise_paths],
            "timeline": [point.to_dict() for point in self.timeline],
            "latest_at": None if self.latest_at is None else self.latest_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Every capability's evidence in ``[since, generated_at)``."""

    since: datetime
    generated_at: datetime
    capabilities: tuple[CapabilityReport, ...] = ()
    run: str | None = None  # a replay run's id; None for live traffic

    def capability(self, name: str) -> CapabilityReport | None:
        return next((cap for cap in self.capabilities if cap.name == name), None)

    def example_ids(self, *, per_capability: int = 5) -> list[str]:
        """The example observations worth showing: one per top signature, in order."""
        ids: list[str] = []
        for cap in self.capabilities:
            for row in cap.signatures[:per_capability]:
                # "": every comparison of the signature was counted without an example
                if row.example_id and row.example_id not in ids:
                    ids.append(row.example_id)
        return ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "run": self.run,
            "capabilities": [cap.to_dict() for cap in self.capabilities],
        }


def build_report(
    store: ResultStore | None,
    *,
    since: datetime,
    capability: str | None = None,
    modes: Mapping[str, str] = {},
    now: datetime | None = None,
    buckets: int = DEFAULT_BUCKETS,
    top: int = DEFAULT_TOP,
    run: str | None = None,
    sync_keys: Mapping[str, KeyOf] = {},
) -> Report:
    """The report of ``store`` since ``since`` (until ``now``, default the current time).

    ``modes`` maps the capabilities of routes.yaml to their mode: each appears, in that order
    and with zero counts if nothing was recorded; other experiments found in the store follow,
    by name, with mode ``unknown``. ``capability`` limits the report to one name. ``store``
    None (no store created yet) gives the zero-count report. ``run`` None reports live
    traffic; a replay run's id reports that run's observations only. ``sync_keys`` names the
    capabilities with ``data.sync`` and how to find an observation's key: their examples get
    the sync lag and the ``possibly_stale`` flag.
    """
    generated_at = now or datetime.now(UTC)
    if since.tzinfo is None or generated_at.tzinfo is None:
        raise ValueError("since and now must be timezone-aware")
    if since >= generated_at:
        raise ValueError(f"since ({since.isoformat()}) must come before now")
    summaries: dict[str, ExperimentSummary] = {}
    errors: dict[str, dict[str, int]] = {}
    timelines: dict[str, list[TimeBucket]] = {}
    noise: dict[str, list[NoiseCount]] = {}
    if store is not None:
        for row in store.noise_counts(capability):
            noise.setdefault(row.experiment, []).append(row)
        excuse = noise_excuse(noise)
        summaries = store.summary(since, experiment=capability, top=top, run=run, excuse=excuse)
        errors = store.candidate_error_counts(since, experiment=capability, run=run)
    start, end, buckets = timeline_span(summaries.values(), since, generated_at, buckets)
    if store is not None:
        timelines = store.timeline(
            start, until=end, buckets=buckets, experiment=capability, run=run, excuse=excuse
        )
    names = [name for name in modes if capability in (None, name)]
    names += sorted((set(summaries) | set(noise)) - set(names))
    if capability is not None and capability not in names:
        names.append(capability)
    empty_timeline = _empty_timeline(start, end, buckets)
    capabilities = tuple(
        _capability(
            name,
            mode=modes.get(name, UNKNOWN_MODE),
            summary=summaries.get(name, ExperimentSummary(name)),
            errors=errors.get(name, {}),
            timeline=timelines.get(name, empty_timeline),
            noise=noise.get(name, []),
        )
        for name in names
    )
    if store is not None and sync_keys:
        capabilities = tuple(
            _with_sync(store, cap, sync_keys[cap.name]) if cap.name in sync_keys else cap
            for cap in capabilities
        )
    return Report(since=since, generated_at=generated_at, run=run, capabilities=capabilities)


def _with_sync(store: ResultStore, cap: CapabilityReport, key_of: KeyOf) -> CapabilityReport:
    """``cap`` with the sync state of each stored example: the lag when it was observed, and
    whether its key had a change on its way then."""
    found: dict[str, ExampleSync | None] = {}

    def sync_of(example_id: str) -> ExampleSync | None:
        if example_id not in found:
            record = store.observation(example_id) if example_id else None
            found[example_id] = None if record is None else _example_sync(store, record, key_of)
        return found[example_id]

    return replace(
        cap,
        top_paths=tuple(replace(r, sync=sync_of(r.example_id)) for r in cap.top_paths),
        signatures=tuple(replace(r, sync=sync_of(r.example_id)) for r in cap.signatures),
    )


def _example_sync(store: ResultStore, record: ObservationRecord, key_of: KeyOf) -> ExampleSync:
    at = record.created_at
    key = key_of(record)
    stale = key is not None and bool(unapplied_at(store, record.experiment, [key], at))
    return ExampleSync(lag_at(store, record.experiment, at), stale)


TIMELINE_RESOLUTION = timedelta(minutes=1)
"""The narrowest timeline bucket: matches past the examples kept are stored as per-minute
tallies, so a narrower bucket would put a minute's matches in its first slice only."""


def timeline_span(
    summaries: Iterable[ExperimentSummary], since: datetime, until: datetime, buckets: int
) -> tuple[datetime, datetime, int]:
    """The timeline's ``(start, end, buckets)``: from the minute of the first comparison to the
    end of the minute of the last one (within ``[since, until)``), so a one-minute run is not
    a dot on a 24-hour axis; no bucket narrower than ``TIMELINE_RESOLUTION``. The whole
    window when nothing was recorded."""
    firsts = [s.earliest_at for s in summaries if s.earliest_at is not None]
    lasts = [s.latest_at for s in summaries if s.latest_at is not None]
    if not firsts or not lasts:
        return since, until, buckets
    start = max(since, minute_of(min(firsts)))
    end = min(until, minute_of(max(lasts)) + TIMELINE_RESOLUTION)
    if end <= start:
        return since, until, buckets
    return start, end, max(1, min(buckets, math.ceil((end - start) / TIMELINE_RESOLUTION)))


def noise_excuse(noise: Mapping[str, Sequence[NoiseCount]]) -> Excuse:
    """Judge stored mismatches by the noise known now, not when they were recorded: a field
    learned as noise later (the twins need samples first) no longer counts against the
    candidate, as Diffy re-judges its whole window."""
    trackers = {name: tracker_from_counts(rows, experiment=name) for name, rows in noise.items()}

    def excuse(experiment: str, route: str, differences: Sequence[Mapping[str, Any]]) -> bool:
        tracker = trackers.get(experiment)
        if tracker is None:
            return False
        return all(
            tracker.classify(
                route,
                str(d.get("template_path") or d.get("path") or ""),
                kind=str(d.get("kind") or "value"),
            )
            == "noise"
            for d in differences
        )

    return excuse


def _capability(
    name: str,
    *,
    mode: str,
    summary: ExperimentSummary,
    errors: Mapping[str, int],
    timeline: Sequence[TimeBucket],
    noise: Sequence[NoiseCount],
) -> CapabilityReport:
    failed = summary.mismatches + summary.candidate_errors
    judged = summary.matches + failed
    return CapabilityReport(
        name=name,
        mode=mode,
        comparisons=summary.comparisons,
        matches=summary.matches,
        mismatches=summary.mismatches,
        ignored=summary.ignored,
        candidate_errors=summary.candidate_errors,
        timeouts=errors.get(TIMEOUT_ERROR, 0),
        dropped=summary.dropped,
        examples_dropped=summary.examples_dropped,
        mismatch_rate=summary.mismatch_rate,
        mismatch_rate_ci=wilson_interval(failed, judged),
        legacy_ms=_latency(summary.control_ms),
        candidate_ms=_latency(summary.candidate_ms),
        top_paths=tuple(PathRow(p.path, p.count, p.example_id) for p in summary.top_paths),
        signatures=tuple(
            SignatureRow(s.signature, signature_paths(s.signature), s.count, s.example_id)
            for s in summary.top_signatures
        ),
        noise_paths=_noise_paths(name, noise),
        timeline=tuple(
            TimelinePoint(
                start=bucket.start,
                comparisons=bucket.comparisons,
                judged=bucket.judged,
                mismatches=bucket.mismatches,
                candidate_errors=bucket.candidate_errors,
                mismatch_rate=bucket.mismatch_rate,
            )
            for bucket in timeline
        ),
        latest_at=summary.latest_at,
        excused=summary.excused,
    )


def signature_paths(signature: str) -> tuple[str, ...]:
    """The differing template paths a signature stands for (``Comparison.signature()``)."""
    return tuple(line for line in signature.split("\n") if line)


def _latency(percentiles: Percentiles) -> Latency:
    return Latency(percentiles.p50, percentiles.p99)


def _empty_timeline(since: datetime, until: datetime, buckets: int) -> list[TimeBucket]:
    width = (until - since) / buckets
    return [TimeBucket(start=since + width * index) for index in range(buckets)]


def _noise_paths(name: str, rows: Sequence[NoiseCount]) -> tuple[NoisePath, ...]:
    """What the shared counts (``parallel_run.noise_counts``) make ``NoiseTracker`` classify
    as noise, most often varying first."""
    tracker = tracker_from_counts(rows, experiment=name)
    found = [counts for route in tracker.routes() for counts in tracker.noise_paths(route)]
    return tuple(sorted(found, key=lambda n: (-n.twin_rate, n.route, n.path, n.kind)))


def load_examples(store: ResultStore | None, ids: Sequence[str]) -> dict[str, ObservationRecord]:
    """The stored observations among ``ids`` (those purged meanwhile are left out)."""
    if store is None:
        return {}
    found: dict[str, ObservationRecord] = {}
    for observation_id in ids:
        record = store.observation(observation_id)
        if record is not None:
            found[observation_id] = record
    return found


def pretty_body(body: bytes | None, *, limit: int = 20000) -> str:
    """A stored body as text for people: JSON indented, anything else decoded (invalid UTF-8
    replaced), cut to ``limit`` characters. Untrusted: escape it before putting it in markup."""
    if body is None:
        return "(no body)"
    text = body.decode("utf-8", "replace")
    with contextlib.suppress(ValueError):  # not JSON: shown as it came
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    if len(text) > limit:
        return text[:limit] + f"\n… ({len(text) - limit} more characters)"
    return text


def value_text(value: Any, *, limit: int = 2000) -> str:
    """One differing value as JSON text, cut to ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
