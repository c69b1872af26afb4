"""Check a golden case against a running facade, explain a mismatch, re-record a corpus.

A case is checked by sending its recorded request to the facade and comparing the answer with
the recorded one by the parallel run's comparator (``parallel_run.compare.compare_http``) under
the capability's ``compare:`` rules from routes.yaml plus the corpus's ignored and noise paths.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from facade.config import Compare, Config
from facade.config.evidence import compare_rules, redactor_for
from parallel_run.compare import CompareRules, Comparison, Difference, HttpAnswer, compare_http
from parallel_run.traffic import RecordedExchange, RecordedResponse
from regress.corpus import Case, Manifest, stable_headers

# framing and hop-by-hop headers are http.client's to set; no Accept-Encoding: the comparator
# reads plain bodies
NOT_SENT = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "accept-encoding",
    }
)
ROUTE_HEADER = "x-strangler-route"
_SHOWN_VALUE = 80


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one case got: the comparison, and who served the answer (``capability;mode;by``
    from the facade's debug header, when it sent one)."""

    case: Case
    comparison: Comparison
    answer: HttpAnswer
    served_by: str | None
    elapsed_ms: float

    @property
    def passed(self) -> bool:
        return self.comparison.equal


def rules_for(config: Config, capability: str, manifest: Manifest) -> CompareRules:
    """The capability's shadow-mode rules, plus the corpus's ignored and noise paths."""
    entry = config.routes.capabilities.get(capability)
    base = compare_rules(entry.compare if entry is not None else Compare())
    extra = manifest.paths_for(capability)
    return replace(base, ignore_paths=(*base.ignore_paths, *extra)) if extra else base


def fetch(base_url: str, exchange: RecordedExchange, *, timeout: float = 30) -> HttpAnswer:
    """Send the recorded request to ``base_url`` (origin form, target byte for byte)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout
    )
    try:
        connection.putrequest(exchange.method, exchange.target, skip_accept_encoding=True)
        for name, value in exchange.headers:
            if name.lower() not in NOT_SENT:
                connection.putheader(name, value)
        if exchange.body or exchange.method.upper() in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(exchange.body)))
        connection.endheaders(exchange.body or None)
        response = connection.getresponse()
        body = response.read()
        return HttpAnswer(response.status, tuple(response.getheaders()), body)
    except (OSError, http.client.HTTPException) as exc:
        return HttpAnswer.failed(f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def recorded_answer(exchange: RecordedExchange) -> HttpAnswer:
    assert exchange.response is not None
    response = exchange.response
    return HttpAnswer(response.status, response.headers, response.body)


def check(case: Case, base_url: str, rules: CompareRules) -> Verdict:
    assert case.exchange is not None
    assert case.exchange.response is not None
    started = time.perf_counter()
    answer = fetch(base_url, case.exchange)
    elapsed = (time.perf_counter() - started) * 1000
    comparison = compare_http(recorded_answer(case.exchange), answer, rules=rules)
    served = answer.header(ROUTE_HEADER) if answer.error is None else None
    return Verdict(case, comparison, answer, served, elapsed)


# explaining -----------------------------------------------------------------------------------


def describe(difference: Difference) -> str:
    """One line: ``$.product.unitPrice: expected 9695, got 9696``."""
    kind = difference.kind
    if kind == "missing":
        return f"{difference.path}: expected {_shown(difference.control)}, missing"
    if kind == "extra":
        return f"{difference.path}: not expected, got {_shown(difference.candidate)}"
    if kind == "body":
        return (
            f"body (not JSON): expected {_digest(difference.control)}, "
            f"got {_digest(difference.candidate)}"
        )
    if kind == "error":
        return f"no answer: {difference.candidate}"
    expected, got = _shown(difference.control), _shown(difference.candidate)
    return f"{difference.path}: expected {expected}, got {got}"


def explain_comparison(comparison: Comparison) -> list[str]:
    lines = [describe(d) for d in comparison.differences]
    if comparison.omitted:
        lines.append(f"... and {comparison.omitted} more differences")
    return lines


def explain(verdict: Verdict) -> str:
    """What a failing case says: the request, who served it, one line per differing path."""
    exchange = verdict.case.exchange
    assert exchange is not None
    head = f"{exchange.method} {exchange.target}{served_text(verdict.served_by)}"
    lines = [f"{head}: {len(verdict.comparison.differences)} difference(s) from the golden answer"]
    lines += [f"  {line}" for line in explain_comparison(verdict.comparison)]
    return "\n".join(lines)


def served_text(served_by: str | None) -> str:
    """`` (served by catalog: product-catalog in mode extracted)`` from the facade's debug
    header ``capability;mode;served-by``; empty without one."""
    if not served_by:
        return ""
    capability, _, rest = served_by.partition(";")
    mode, _, by = rest.partition(";")
    return f" (served by {by or '?'}: {capability} in mode {mode or '?'})"


def _shown(value: object) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 3] + "..."


def _digest(value: object) -> str:
    if isinstance(value, dict):
        return f"{value.get('length')} bytes sha256 {str(value.get('sha256'))[:12]}"
    return str(value)


# re-recording ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rerecorded:
    case: Case
    exchange: RecordedExchange
    changes: tuple[str, ...]  # empty: the golden answer still holds
    noise: tuple[str, ...]  # template paths that differed between two answers of the monolith


def rerecord(
    case: Case,
    monolith_url: str,
    *,
    config: Config,
    rules: Callable[[str], CompareRules],
) -> Rerecorded:
    """Ask the monolith twice; the first answer is the new golden one, what differs between the
    two is noise (the same twin comparison shadow mode learns its noise from)."""
    exchange = case.exchange
    assert exchange is not None
    first = fetch(monolith_url, exchange)
    second = fetch(monolith_url, exchange)
    if first.status is None:
        raise OSError(
            f"the monolith did not answer {exchange.method} {exchange.target}: {first.error}"
        )
    redactor = redactor_for(config)
    new = replace(
        exchange,
        response=RecordedResponse(first.status, stable_headers(first.headers), first.body),
    ).redacted(redactor)
    bare = replace(rules(case.capability), ignore_paths=())
    twin = compare_http(first, second, rules=bare)
    noise = tuple(sorted({d.template_path for d in twin.differences if d.path.startswith("$")}))
    changes: tuple[str, ...] = ()
    if exchange.response is not None:
        old = recorded_answer(exchange)
        assert new.response is not None
        differences = compare_http(old, recorded_answer(new), rules=rules(case.capability))
        changes = tuple(explain_comparison(differences))
    else:
        changes = ("recorded for the first time",)
    return Rerecorded(case, new, changes, noise)


def summarize(results: Iterable[Rerecorded]) -> list[str]:
    """What ``--strangler-update-golden`` prints: each changed case and how."""
    lines: list[str] = []
    unchanged = 0
    for result in results:
        if not result.changes:
            unchanged += 1
            continue
        lines.append(f"{result.case.file.name}: {result.case.id}")
        lines += [f"    {change}" for change in result.changes]
    lines.append(f"{unchanged} golden answer(s) unchanged")
    return lines


# answers as values: ``assert actual == expected`` in a test reads as differing paths ----------


@dataclass(frozen=True, slots=True, eq=False)
class GoldenAnswer:
    """An answer compared under a capability's rules: ``==`` is the parallel run's verdict, and
    the pytest plugin's ``pytest_assertrepr_compare`` shows the differing JSON paths."""

    answer: HttpAnswer
    rules: CompareRules
    label: str = ""
    served_by: str | None = None

    def compare(self, other: GoldenAnswer) -> Comparison:
        # self is what a test got, other what it expected: the golden answer is the control
        return compare_http(other.answer, self.answer, rules=other.rules)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GoldenAnswer):
            return NotImplemented
        return self.compare(other).equal

    __hash__ = None  # type: ignore[assignment]


def assertrepr(actual: GoldenAnswer, expected: GoldenAnswer) -> list[str]:
    """The lines pytest shows for ``assert actual == expected``: first line short."""
    comparison = actual.compare(expected)
    where = served_text(actual.served_by)
    head = f"{expected.label or 'answer'}{where} differs from the golden answer in"
    paths = ", ".join(sorted({d.template_path for d in comparison.differences}))
    return [f"{head} {paths}", *explain_comparison(comparison)]
