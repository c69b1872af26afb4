"""Noise: fields that differ between two answers of the legacy system itself.

Diffy's idea. For a sampled share of safe requests the monolith is called twice; whatever
differs between those *twin* answers (timestamps, generated ids, shuffled recommendations) is
evidence of noise, learned per route template, JSON template path and kind of difference. The
same counts are kept for legacy-vs-candidate comparisons. All of it is plain counting, merged
across facade processes through `to_dict()` / `from_dict()` / `merge()`; this module does no
I/O.

The rule (`NoiseTracker.classify`), per (route, path, kind), with `n_t` twin comparisons of the
route of which `x_t` differed there, and `n_c` candidate comparisons of which `x_c` differed:

1. fewer than `min_twin_samples` twin comparisons: **unknown** (too early to call noise);
2. the legacy system is not shown to vary there (lower Wilson bound of `x_t/n_t` below
   `min_noise_rate`): **mismatch**; a field only the candidate changes is a bug;
3. the candidate differs there significantly more often than two legacy calls do (lower
   Newcombe bound of `x_c/n_c - x_t/n_t` above `margin`): **mismatch**: a field that differs
   in 10% of legacy twins but in every candidate answer is broken, not noisy;
4. otherwise **noise**: left out of mismatch counts and reported on its own.

Comparing the two rates, not a blanket ignore, is what keeps a noisy field checked: its
candidate disagreements must stay as rare as legacy's own. Counting kinds apart adds a second
check: a timestamp whose value always changes is noise, but the same field turning into a
number ("type") or vanishing ("missing") in the candidate is not, because two legacy answers
never did that. Wilson and Newcombe intervals (rather than a z-test) keep the rule sound at 0%
and 100%, where noise lives, and for small samples. `margin` absorbs timing effects: a
candidate answers a little later than the twin call, so a per-second timestamp crosses a second
boundary a little more often.

A field that changes in nearly every legacy answer cannot be checked by value at all; no rule
can tell a wrong value from another random one. Such fields show up under `noise_paths()`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from parallel_run.compare import Comparison, ComparisonError, Difference
from parallel_run.methods import SAFE_METHODS  # the monolith may be called twice for these
from parallel_run.stats import difference_interval, wilson_interval

NoiseClass: TypeAlias = Literal["noise", "mismatch", "unknown"]

FORMAT_VERSION: Final = 1


def should_sample_twin(rng: random.Random, *, fraction: float, method: str) -> bool:
    """Whether to call the monolith a second time for this request: a safe method, and a draw
    under `fraction` (0 = never, 1 = always)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction!r}")
    return method.upper() in SAFE_METHODS and fraction > 0 and rng.random() < fraction


@dataclass(frozen=True, slots=True)
class NoiseRule:
    """The thresholds of `NoiseTracker.classify` (see the module docstring)."""

    min_twin_samples: int = 20
    min_noise_rate: float = 0.01
    margin: float = 0.02
    z: float = 1.96  # two-sided 95% intervals; the bounds used are one-sided 97.5%

    def __post_init__(self) -> None:
        if self.min_twin_samples < 1:
            raise ValueError(f"min_twin_samples must be >= 1, got {self.min_twin_samples}")
        if not 0.0 < self.min_noise_rate <= 1.0:
            raise ValueError(f"min_noise_rate must be within (0, 1], got {self.min_noise_rate!r}")
        if not 0.0 <= self.margin < 1.0:
            raise ValueError(f"margin must be within [0, 1), got {self.margin!r}")
        if not self.z > 0:
            raise ValueError(f"z must be > 0, got {self.z!r}")


DEFAULT_NOISE_RULE: Final = NoiseRule()


@dataclass(frozen=True, slots=True)
class PathCounts:
    """The evidence about one (route, path, kind): what `classify` decided from, for reports."""

    route: str
    path: str
    kind: str
    twin_samples: int
    twin_diffs: int
    samples: int
    diffs: int

    @property
    def twin_rate(self) -> float:
        return self.twin_diffs / self.twin_samples if self.twin_samples else 0.0

    @property
    def rate(self) -> float:
        return self.diffs / self.samples if self.samples else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "path": self.path,
            "kind": self.kind,
            "twin_samples": self.twin_samples,
            "twin_diffs": self.twin_diffs,
            "twin_rate": self.twin_rate,
            "samples": self.samples,
            "diffs": self.diffs,
            "rate": self.rate,
        }


@dataclass(slots=True)
class _Path:
    twin_diffs: int = 0
    diffs: int = 0


@dataclass(slots=True)
class _Route:
    twin_samples: int = 0
    samples: int = 0
    paths: dict[tuple[str, str], _Path] = field(default_factory=dict)


class NoiseTracker:
    """Counts of differing paths per route, for twin (legacy vs legacy) and candidate
    comparisons, and the rule that reads them. Mutable, single-threaded (one per event loop).

    Record a comparison before splitting it, so that its own evidence counts. `max_paths` bounds
    the paths tracked per route (objects keyed by ids would otherwise grow without end); paths
    beyond it are never noise.
    """

    __slots__ = ("_routes", "max_paths", "rule")

    def __init__(self, *, rule: NoiseRule = DEFAULT_NOISE_RULE, max_paths: int = 1000) -> None:
        self.rule = rule
        self.max_paths = max_paths
        self._routes: dict[str, _Route] = {}

    def __repr__(self) -> str:
        return f"NoiseTracker(routes={len(self._routes)}, rule={self.rule!r})"

    # -- recording

    def record_twin(self, route: str, comparison: Comparison) -> bool:
        """Count a legacy-vs-legacy comparison; False (not counted) if either call failed."""
        return self._record(route, comparison, twin=True)

    def record(self, route: str, comparison: Comparison) -> bool:
        """Count a legacy-vs-candidate comparison; False (not counted) if either call failed:
        an error says nothing about how often a field differs."""
        return self._record(route, comparison, twin=False)

    def _record(self, route: str, comparison: Comparison, *, twin: bool) -> bool:
        if comparison.method == "none":
            return False
        counts = self._routes.setdefault(route, _Route())
        if twin:
            counts.twin_samples += 1
        else:
            counts.samples += 1
        # once per comparison: forty list elements with a new timestamp are one observation
        for key in {(d.template_path, d.kind) for d in comparison.differences}:
            path = self._path(counts, key)
            if path is None:
                continue
            if twin:
                path.twin_diffs += 1
            else:
                path.diffs += 1
        return True

    def _path(self, counts: _Route, key: tuple[str, str]) -> _Path | None:
        path = counts.paths.get(key)
        if path is None and len(counts.paths) < self.max_paths:
            path = counts.paths[key] = _Path()
        return path

    # -- reading

    def counts(self, route: str, path: str, *, kind: str = "value") -> PathCounts:
        counts = self._routes.get(route, _Route())
        found = counts.paths.get((path, kind), _Path())
        return PathCounts(
            route,
            path,
            kind,
            counts.twin_samples,
            found.twin_diffs,
            counts.samples,
            found.diffs,
        )

    def classify(self, route: str, path: str, *, kind: str = "value") -> NoiseClass:
        """`noise`, `mismatch` or `unknown` for differences of this kind at this template path
        (rule in the module docstring)."""
        rule = self.rule
        counts = self._routes.get(route)
        if counts is None or counts.twin_samples < rule.min_twin_samples:
            return "unknown"
        found = counts.paths.get((path, kind))
        if found is None:  # never differed between twins (or beyond max_paths): not noise
            return "mismatch"
        twin_low, _ = wilson_interval(found.twin_diffs, counts.twin_samples, z=rule.z)
        if twin_low < rule.min_noise_rate:
            return "mismatch"
        if counts.samples == 0:
            return "unknown"
        excess_low, _ = difference_interval(
            found.diffs, counts.samples, found.twin_diffs, counts.twin_samples, z=rule.z
        )
        return "mismatch" if excess_low > rule.margin else "noise"

    def noise_paths(self, route: str) -> list[PathCounts]:
        """The paths of a route currently classified as noise, most often differing first."""
        counts = self._routes.get(route)
        if counts is None:
            return []
        found = [
            self.counts(route, path, kind=kind)
            for path, kind in counts.paths
            if self.classify(route, path, kind=kind) == "noise"
        ]
        return sorted(found, key=lambda c: (-c.twin_rate, c.path, c.kind))

    def routes(self) -> list[str]:
        return sorted(self._routes)

    # -- persistence

    def merge(self, other: NoiseTracker) -> None:
        """Add another tracker's counts to this one (another process, a stored total)."""
        for route, theirs in other._routes.items():
            ours = self._routes.setdefault(route, _Route())
            ours.twin_samples += theirs.twin_samples
            ours.samples += theirs.samples
            for key, counts in theirs.paths.items():
                path = self._path(ours, key)
                if path is not None:
                    path.twin_diffs += counts.twin_diffs
                    path.diffs += counts.diffs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready counts: `{"version": 1, "routes": {route: {"twin_samples",
        "samples", "paths": [{"path", "kind", "twin_diffs", "diffs"}]}}}`."""
        return {
            "version": FORMAT_VERSION,
            "routes": {
                route: {
                    "twin_samples": counts.twin_samples,
                    "samples": counts.samples,
                    "paths": [
                        {"path": path, "kind": kind, "twin_diffs": c.twin_diffs, "diffs": c.diffs}
                        for (path, kind), c in sorted(counts.paths.items())
                    ],
                }
                for route, counts in sorted(self._routes.items())
            },
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        rule: NoiseRule = DEFAULT_NOISE_RULE,
        max_paths: int = 1000,
    ) -> NoiseTracker:
        """Rebuild a tracker from `to_dict()` output; `ComparisonError` names what is wrong."""
        if data.get("version") != FORMAT_VERSION:
            raise ComparisonError(f"noise counts: unsupported version {data.get('version')!r}")
        tracker = cls(rule=rule, max_paths=max_paths)
        routes = data.get("routes")
        if not isinstance(routes, Mapping):
            raise ComparisonError("noise counts: 'routes' must be an object")
        for route, raw in routes.items():
            if not isinstance(route, str) or not isinstance(raw, Mapping):
                raise ComparisonError(f"noise counts: route {route!r} must map to an object")
            counts = _Route(_count(raw, "twin_samples", route), _count(raw, "samples", route))
            for entry in _entries(raw.get("paths", []), route):
                key = (entry["path"], entry["kind"])
                twin_diffs, diffs = (
                    _count(entry, "twin_diffs", route),
                    _count(entry, "diffs", route),
                )
                if twin_diffs > counts.twin_samples or diffs > counts.samples:
                    raise ComparisonError(
                        f"noise counts: route {route!r} path {key[0]!r} counts more differences"
                        " than comparisons"
                    )
                path = counts.paths.setdefault(key, _Path())
                path.twin_diffs += twin_diffs
                path.diffs += diffs
            tracker._routes[route] = counts
        return tracker


def _count(raw: Mapping[str, Any], name: str, route: str) -> int:
    value = raw.get(name, 0)
    if type(value) is not int or value < 0:
        raise ComparisonError(
            f"noise counts: route {route!r}: {name} must be an integer >= 0, got {value!r}"
        )
    return value


def _entries(raw: object, route: str) -> Iterable[Mapping[str, Any]]:
    if not isinstance(raw, list):
        raise ComparisonError(f"noise counts: route {route!r}: 'paths' must be a list")
    for entry in raw:
        if not (
            isinstance(entry, Mapping)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("kind"), str)
        ):
            raise ComparisonError(
                f"noise counts: route {route!r}: each path needs 'path' and 'kind', got {entry!r}"
            )
        yield entry


def split(
    comparison: Comparison, *, route: str, tracker: NoiseTracker
) -> tuple[tuple[Difference, ...], tuple[Difference, ...]]:
    """(mismatches, noise): the comparison's differences, noise set apart. `unknown` counts as
    a mismatch: until the twins have spoken, a difference is not excused."""
    mismatches: list[Difference] = []
    noise: list[Difference] = []
    verdicts: dict[tuple[str, str], NoiseClass] = {}
    for difference in comparison.differences:
        key = (difference.template_path, difference.kind)
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = tracker.classify(route, key[0], kind=key[1])
        (noise if verdict == "noise" else mismatches).append(difference)
    return tuple(mismatches), tuple(noise)
