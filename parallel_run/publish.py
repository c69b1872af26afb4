"""Experiment results into the result store: a publisher any ``Experiment`` can take.

::

    recorder = Recorder.for_store(settings).start()
    experiment = Experiment("seam:pricing", publish=[StorePublisher(recorder.submit)])

Each run in which the candidates ran becomes one stored observation per candidate, made by
the one observation path (``parallel_run.observe``), so an in-process experiment is counted,
classified and reported exactly as shadow mode's and replay's comparisons are. The Django
seams (``strangler_django``) record through it; so can any other user of ``Experiment``.

How a side reads as an answer (``answer_of``): a value is a 200 with its JSON (after
``clean``); an exception with an integer ``status`` (or ``status_code``, as Django REST
framework's) is a domain answer the caller would see, compared by status, class, ``code`` and
message; a ``TimeoutError`` (a candidate past its budget) or any other exception is a failure,
a ``candidate_error`` when only the candidate failed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any

from parallel_run.compare import DEFAULT_RULES, CompareRules, HttpAnswer
from parallel_run.experiment import Observation, Result
from parallel_run.observe import Where, observe
from parallel_run.record import Kind, ObservationRecord

log = logging.getLogger("strangler.parallel_run")

_JSON = (("Content-Type", "application/json"),)


def _domain_status(exc: BaseException) -> int | None:
    for attribute in ("status", "status_code"):
        status = getattr(exc, attribute, None)
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            return status
    return None


def answer_of(observation: Observation[Any]) -> HttpAnswer:
    """One side of an experiment run as the comparator reads it (see the module docstring)."""
    exc = observation.exception
    if exc is None:
        body = json.dumps(observation.cleaned_value, sort_keys=True, default=str).encode()
        return HttpAnswer(200, _JSON, body)
    status = _domain_status(exc)
    if status is not None:
        code = getattr(exc, "code", None)
        raised = {
            "error": type(exc).__name__,
            "code": code if isinstance(code, str | int) else None,
            "message": str(exc),
        }
        return HttpAnswer(status, _JSON, json.dumps(raised, sort_keys=True).encode())
    if isinstance(exc, TimeoutError):
        return HttpAnswer.failed("timeout")  # what the report counts as a timeout
    return HttpAnswer.failed(f"{type(exc).__name__}: {exc}")


def records_of(
    result: Result[Any], where: Where, *, rules: CompareRules = DEFAULT_RULES
) -> list[ObservationRecord]:
    """The stored comparisons of one experiment run: one per candidate that ran (pure)."""
    control = answer_of(result.control)
    records = []
    for run in result.candidates:
        _, record = observe(
            control,
            answer_of(run),
            where,
            control_ms=result.control.duration * 1000,
            candidate_ms=run.duration * 1000,
            rules=rules,
            ignored=run in result.ignored,
        )
        # both answers are JSON whatever their outcome (a failure's too): say so in every record
        records.append(dataclasses.replace(record, control_headers=_JSON, candidate_headers=_JSON))
    return records


@dataclass(frozen=True, slots=True)
class StorePublisher:
    """``Experiment(..., publish=[StorePublisher(recorder.submit)])``: each run is stored.

    ``submit`` takes a record and says whether it was accepted (``Recorder.submit``: False
    when its queue is full; it never blocks, so the caller never waits on the store). The
    record names the experiment (``Result.name``), ``route`` (the experiment's name if
    omitted), ``method`` and ``call`` (its path: which call this was, for the report's
    examples). A dropped record is logged; ``Experiment`` logs a publisher's exception and
    never raises it, so a store that is down costs an observation, never a call.
    """

    submit: Callable[[ObservationRecord], bool]
    _: KW_ONLY
    route: str | None = None
    call: str = ""
    method: str = "CALL"
    kind: Kind = "seam"
    rules: CompareRules = DEFAULT_RULES

    def __call__(self, result: Result[Any]) -> None:
        where = Where(
            experiment=result.name,
            kind=self.kind,
            route=result.name if self.route is None else self.route,
            method=self.method,
            path=self.call,
        )
        for record in records_of(result, where, rules=self.rules):
            if not self.submit(record):
                log.warning(
                    "experiment %r: observation dropped (the store queue is full)", result.name
                )
