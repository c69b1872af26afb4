"""Seam experiments into the result store the facade uses (routes.yaml ``store:``).

One ``Recorder`` per store URL and process, started on the first experiment: its thread
writes in batches and never blocks the call (a full queue or a store that is down costs a
counted drop, never a failed request). Records are redacted by the store as the facade's are.

How a side's outcome is compared: a value is a 200 with its JSON (after ``clean``); an
exception with an integer ``status`` (or ``status_code``, as Django REST framework's) is a
domain answer the caller would see, compared by status, class, ``code`` and message; a timeout
or ``SeamCallFailed`` (or any other exception) is a failure, a ``candidate_error`` when only
the candidate failed.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import threading
from typing import Any

from facade.config import Config
from facade.config.evidence import recorder_options, store_settings
from parallel_run.compare import HttpAnswer
from parallel_run.experiment import Observation, Result
from parallel_run.observe import Where, observe
from parallel_run.record import ObservationRecord
from parallel_run.recorder import Recorder

_JSON = (("Content-Type", "application/json"),)
_lock = threading.Lock()
_recorders: dict[str, Recorder] = {}


def recorder_for(config: Config) -> Recorder:
    """The process's recorder for ``config``'s store, started on first use."""
    url = config.store_url
    with _lock:
        recorder = _recorders.get(url)
        if recorder is None:
            # the same store, redaction and bounds on evidence as the facade's shadow mode
            recorder = Recorder.for_store(
                store_settings(config), **recorder_options(config)
            ).start()
            _recorders[url] = recorder
        return recorder


@atexit.register
def flush() -> None:
    """Write what the recorders still hold and stop them; runs at exit (a gunicorn worker
    restarted, SIGTERM), and tests call it to read the store."""
    with _lock:
        recorders = list(_recorders.values())
        _recorders.clear()
    for recorder in recorders:
        recorder.close(timeout=2.0)


def _domain_status(exc: BaseException) -> int | None:
    for attribute in ("status", "status_code"):
        status = getattr(exc, attribute, None)
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            return status
    return None


def answer_of(observation: Observation[Any]) -> HttpAnswer:
    """One side of a seam call as the comparator reads it (see the module docstring)."""
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


def record_of(result: Result[Any], *, seam: str, call: str) -> ObservationRecord:
    """The stored comparison of one experiment run (its first candidate)."""
    control = answer_of(result.control)
    (run,) = result.candidates
    candidate = answer_of(run)
    where = Where(experiment=f"seam:{seam}", kind="seam", route=seam, method="CALL", path=call)
    _, record = observe(
        control,
        candidate,
        where,
        control_ms=result.control.duration * 1000,
        candidate_ms=run.duration * 1000,
        ignored=run in result.ignored,
    )
    # a seam's answers are JSON whatever their outcome (a failure's too): say so in every record
    return dataclasses.replace(record, control_headers=_JSON, candidate_headers=_JSON)
