"""What the recorder counts without a row (match and mismatch tallies, noise counts), apart from
the store's tables: the facade builds them on every comparison, and needs SQLAlchemy and alembic
(``parallel_run.store``) only once a recorder opens its store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from parallel_run.latency import LatencyHistogram
from parallel_run.record import ObservationRecord
from parallel_run.sampling import difference_shape

SIGNATURE_LENGTH = 512


@dataclass(frozen=True, slots=True)
class NoiseCount:
    """How often one JSON path of one route differed: between two control calls (``twin_*``)
    and between control and candidate. A delta when passed to ``add_noise_counts``."""

    experiment: str
    route: str
    template_path: str
    twin_samples: int = 0
    twin_diffs: int = 0
    samples: int = 0
    diffs: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.experiment, self.route, self.template_path)


@dataclass(slots=True)
class MatchTally:
    """Matches of one route in one minute: how many, and both sides' latencies."""

    experiment: str
    route: str
    minute: datetime
    run_id: str | None = None
    count: int = 0
    control_ms: LatencyHistogram = field(default_factory=LatencyHistogram)
    candidate_ms: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(self, control_ms: float | None, candidate_ms: float | None) -> None:
        self.count += 1
        if control_ms is not None:
            self.control_ms.add(control_ms)
        if candidate_ms is not None:
            self.candidate_ms.add(candidate_ms)


TallyKey = tuple[str, str, str | None, datetime, str, str, str | None, tuple[tuple[str, str], ...]]
"""(experiment, route, run id, minute, outcome, signature, candidate error, shape)."""

CANDIDATE_ERROR_LENGTH = 500  # error texts are short; a tally key must stay small


@dataclass(slots=True)
class MismatchTally:
    """Comparisons that did not match, counted without rows: one key, one minute."""

    experiment: str
    route: str
    minute: datetime
    outcome: str
    signature: str
    run_id: str | None = None
    candidate_error: str | None = None
    shape: tuple[tuple[str, str], ...] = ()
    count: int = 0
    control_ms: LatencyHistogram = field(default_factory=LatencyHistogram)
    candidate_ms: LatencyHistogram = field(default_factory=LatencyHistogram)

    @property
    def key(self) -> TallyKey:
        return tally_key_parts(
            self.experiment, self.route, self.run_id, self.minute, self.outcome, self.signature,
            self.candidate_error, self.shape,
        )  # fmt: skip

    def add(self, control_ms: float | None, candidate_ms: float | None, count: int = 1) -> None:
        self.count += count
        if control_ms is not None:
            self.control_ms.add(control_ms)
        if candidate_ms is not None:
            self.candidate_ms.add(candidate_ms)

    @classmethod
    def of(cls, record: ObservationRecord) -> MismatchTally:
        """The (empty) tally ``record`` is counted in; add it with ``add()``."""
        return cls(
            experiment=record.experiment,
            route=record.route,
            minute=minute_of(record.created_at),
            outcome=record.outcome,
            signature=record.signature[:SIGNATURE_LENGTH],
            run_id=record.run_id,
            candidate_error=_error_key(record.candidate_error),
            shape=difference_shape(record.differences),
        )


def tally_key_parts(
    experiment: str, route: str, run_id: str | None, minute: datetime, outcome: str,
    signature: str, candidate_error: str | None, shape: tuple[tuple[str, str], ...],
) -> TallyKey:  # fmt: skip
    return (experiment, route, run_id, minute, outcome, signature, candidate_error, shape)


def tally_key(record: ObservationRecord) -> TallyKey:
    """Which ``MismatchTally`` counts ``record``."""
    return MismatchTally.of(record).key


def _error_key(error: str | None) -> str | None:
    return None if error is None else error[:CANDIDATE_ERROR_LENGTH]


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


LEGACY = "legacy"  # served_by of a request the monolith answered


@dataclass(frozen=True, slots=True)
class EndpointTally:
    """Requests in one minute for one (endpoint, method, capability, served_by)."""

    minute: datetime  # aware UTC, the start of the minute
    endpoint: str  # ``Endpoint.key``, or ``facade.config.endpoints.UNKNOWN_ENDPOINT``
    method: str
    capability: str  # "" when no capability matched
    served_by: str  # LEGACY or the service's name
    count: int
