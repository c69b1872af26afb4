"""Noise counts between a ``NoiseTracker`` (per route, path and kind) and the store's rows.

The store keeps one row per (experiment, route, template_path). A tracker counts comparisons
per route and differences per (path, kind), so a route's own totals go in a row whose
template_path is empty, and each path's row is keyed ``"<kind>:<path>"``. Every process adds
its increments to the same rows, so the evidence is shared.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from parallel_run.noise import FORMAT_VERSION, NoiseTracker
from parallel_run.tallies import NoiseCount

ROUTE_TOTALS = ""


def tracker_to_counts(tracker: NoiseTracker, *, experiment: str) -> list[NoiseCount]:
    """The tracker's counts as store rows (used for increments: a tracker of deltas)."""
    rows: list[NoiseCount] = []
    for route, raw in tracker.to_dict()["routes"].items():
        rows.append(
            NoiseCount(
                experiment,
                route,
                ROUTE_TOTALS,
                twin_samples=raw["twin_samples"],
                samples=raw["samples"],
            )
        )
        for entry in raw["paths"]:
            rows.append(
                NoiseCount(
                    experiment,
                    route,
                    f"{entry['kind']}:{entry['path']}",
                    twin_diffs=entry["twin_diffs"],
                    diffs=entry["diffs"],
                )
            )
    return rows


def tracker_from_counts(counts: Iterable[NoiseCount], *, experiment: str) -> NoiseTracker:
    """A tracker holding the stored totals of one experiment."""
    routes: dict[str, dict[str, Any]] = {}
    for row in counts:
        if row.experiment != experiment:
            continue
        route = routes.setdefault(row.route, {"twin_samples": 0, "samples": 0, "paths": []})
        if row.template_path == ROUTE_TOTALS:
            route["twin_samples"] += row.twin_samples
            route["samples"] += row.samples
            continue
        kind, _, path = row.template_path.partition(":")
        route["paths"].append(
            {"path": path, "kind": kind, "twin_diffs": row.twin_diffs, "diffs": row.diffs}
        )
    return NoiseTracker.from_dict({"version": FORMAT_VERSION, "routes": routes})


class SharedNoise:
    """One experiment's noise as every process shares it through the store.

    ``totals`` starts from the stored counts and learns all this process sees: it judges.
    ``pending`` learns the same since the last ``take()``: the increments this process adds
    to the store, so that no count is written twice and every process's evidence adds up.
    """

    def __init__(self, experiment: str, stored: Iterable[NoiseCount] = ()) -> None:
        self.experiment = experiment
        self.totals = tracker_from_counts(stored, experiment=experiment)
        self.pending = NoiseTracker()

    @property
    def trackers(self) -> tuple[NoiseTracker, NoiseTracker]:
        """For ``parallel_run.observe``: the first judges, both learn."""
        return self.totals, self.pending

    def take(self) -> list[NoiseCount]:
        """What was learned since the last take, as store rows (increments for
        ``ResultStore.add_noise_counts`` or ``Recorder.submit_noise``)."""
        rows = tracker_to_counts(self.pending, experiment=self.experiment)
        self.pending = NoiseTracker()
        return rows
