"""The stored unit of a parallel run: one control/candidate comparison, as the store keeps it.

An ``ObservationRecord`` is built by whoever compared the two answers (the facade's shadow
stage, a seam, a replay run) and handed to the ``Recorder``. It may still hold secrets and
whole bodies; ``redacted()`` gives the copy that is safe to store or log, and the store calls
it before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from parallel_run.redact import MASK, Redactor

Kind = Literal["http", "seam"]
Outcome = Literal["match", "mismatch", "ignored", "candidate_error"]
OUTCOMES: tuple[Outcome, ...] = ("match", "mismatch", "ignored", "candidate_error")

Headers = tuple[tuple[str, str], ...]
# a differing value is kept as JSON text of at most this many characters (cut with a marker):
# a JSON answer's differing field can be as large as the answer, and the store keeps bodies to
# ``body_limit`` only, so a value must not smuggle the whole answer in beside them
VALUE_LIMIT = 1024
CUT_MARK = "…"
Difference = Mapping[str, Any]
"""One differing value: ``path``, ``template_path``, ``kind``, ``control``, ``candidate``."""


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservationRecord:
    """One comparison of the control's answer with the candidate's, ready to be stored.

    ``experiment`` is the capability (HTTP) or seam name; ``route`` the matched route
    template, or the seam name. ``path`` is the normalized path with its query. Body sizes
    are the full sizes, also after the bodies were truncated for storage.
    """

    experiment: str
    kind: Kind = "http"
    route: str
    method: str = ""
    path: str = ""
    outcome: Outcome
    control_status: int | None = None
    candidate_status: int | None = None
    control_ms: float | None = None
    candidate_ms: float | None = None
    control_error: str | None = None
    candidate_error: str | None = None
    differences: tuple[Difference, ...] = ()
    noise: tuple[Difference, ...] = ()
    signature: str = ""
    control_headers: Headers = ()
    candidate_headers: Headers = ()
    control_body: bytes | None = None
    candidate_body: bytes | None = None
    control_body_size: int | None = None
    candidate_body_size: int | None = None
    created_at: datetime = field(default_factory=_now)
    run_id: str | None = None
    id: str = field(default_factory=_new_id)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {self.outcome!r}")
        if self.created_at.tzinfo is None:
            raise ValueError(f"created_at must be timezone-aware, not {self.created_at!r}")
        # the full sizes are what the bodies measure before any truncation
        if self.control_body_size is None and self.control_body is not None:
            object.__setattr__(self, "control_body_size", len(self.control_body))
        if self.candidate_body_size is None and self.candidate_body is not None:
            object.__setattr__(self, "candidate_body_size", len(self.candidate_body))

    def redacted(self, redactor: Redactor, body_limit: int) -> ObservationRecord:
        """A copy safe to store or log: secrets redacted, then bodies cut to ``body_limit``.

        Redaction runs on the whole body first, so a secret is found even when it sits past
        the cut (and a truncated JSON body, which no longer parses, is never stored raw).
        """
        return dataclasses.replace(
            self,
            path=redactor.target(self.path),
            control_error=_text(redactor, self.control_error),
            candidate_error=_text(redactor, self.candidate_error),
            differences=tuple(_difference(redactor, d) for d in self.differences),
            noise=tuple(_difference(redactor, d) for d in self.noise),
            signature=redactor.text(self.signature),
            control_headers=redactor.headers(self.control_headers),
            candidate_headers=redactor.headers(self.candidate_headers),
            control_body=_body(redactor, self.control_body, self.control_headers, body_limit),
            candidate_body=_body(redactor, self.candidate_body, self.candidate_headers, body_limit),
        )


def content_type(headers: Headers) -> str | None:
    """The first Content-Type among ``headers``, if any."""
    for name, value in headers:
        if name.lower() == "content-type":
            return value
    return None


def _text(redactor: Redactor, value: str | None) -> str | None:
    return None if value is None else redactor.text(value)


def _body(redactor: Redactor, body: bytes | None, headers: Headers, limit: int) -> bytes | None:
    if body is None:
        return None
    return redactor.body(body, content_type(headers))[: max(limit, 0)]


def _segments(path: str) -> list[str]:
    cleaned = path
    # `$.user.password`, `root['password']`, `header:cookie` (compare.Difference paths)
    for ch in "[]'\"$/:":
        cleaned = cleaned.replace(ch, ".")
    return [part.lower() for part in cleaned.split(".") if part]


def _difference(redactor: Redactor, difference: Difference) -> dict[str, Any]:
    out = dict(difference)
    # query parameter names stay out: a JSON field named `code` is rarely a secret
    names = redactor.json_fields | redactor.header_names
    where = f"{out.get('path', '')}.{out.get('template_path', '')}"
    secret = any(segment in names for segment in _segments(where))
    for side in ("control", "candidate"):
        if side not in out:
            continue
        if secret and out[side] is not None:
            out[side] = MASK
        elif isinstance(out[side], str):
            out[side] = cut_value(redactor.text(out[side]))
        else:
            out[side] = cut_value(redactor.value(out[side]))
    return out


def cut_value(value: Any, *, limit: int = VALUE_LIMIT) -> Any:
    """``value`` itself when its JSON text fits in ``limit`` characters; else that text cut
    to ``limit`` and marked (a string then stands for what was a list or an object)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + CUT_MARK
    if value is None or isinstance(value, bool | int | float):
        return value
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)[: limit + 1]
    return value if len(text) <= limit else text[:limit] + CUT_MARK
