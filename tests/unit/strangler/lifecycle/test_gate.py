"""The evidence gate: which steps it guards, and what it needs."""

from __future__ import annotations

import pytest

from facade.config import Mode, Promote
from strangler.lifecycle.gate import Evidence, decide, exposure, format_window, pct, readiness

PROMOTE = Promote(
    min_comparisons=500,
    max_mismatch_rate=0.001,
    max_error_rate=0.01,
    window=86400,
    ungated_canary_percent=10,
)
ENOUGH = Evidence(86400, comparisons=1000, mismatches=1, candidate_errors=5)


@pytest.mark.parametrize(
    ("from_mode", "from_percent", "to_mode", "to_percent", "gated"),
    [
        ("shadow", 10, "extracted", 10, True),
        ("canary", 50, "extracted", 50, True),
        ("legacy", 0, "shadow", 0, False),
        ("shadow", 0, "canary", 10, False),  # up to the ungated percent: no evidence needed
        ("shadow", 0, "canary", 10.5, True),
        ("canary", 30, "canary", 20, False),  # a smaller canary is a step back
        ("canary", 30, "canary", 40, True),
        ("extracted", 10, "shadow", 10, False),  # rollback
        ("extracted", 10, "canary", 50, False),
        ("canary", 50, "legacy", 50, False),
    ],
)
def test_only_steps_that_grow_the_services_share_past_the_ungated_percent_are_gated(
    from_mode: Mode, from_percent: float, to_mode: Mode, to_percent: float, gated: bool
) -> None:
    none = Evidence(86400)
    decision = decide(
        PROMOTE,
        none,
        from_mode=from_mode,
        from_percent=from_percent,
        to_mode=to_mode,
        to_percent=to_percent,
    )
    assert decision.gated is gated
    assert decision.allowed is not gated


def cutover(evidence: Evidence) -> tuple[bool, tuple[str, ...]]:
    decision = decide(
        PROMOTE, evidence, from_mode="shadow", from_percent=0, to_mode="extracted", to_percent=0
    )
    return decision.allowed, decision.shortfalls


def test_enough_clean_evidence_passes() -> None:
    assert cutover(ENOUGH) == (True, ())


def test_exactly_at_the_limits_passes() -> None:
    assert cutover(Evidence(86400, comparisons=1000, mismatches=1, candidate_errors=10))[0]
    assert cutover(Evidence(86400, comparisons=500))[0]


def test_too_few_comparisons_says_how_many_more() -> None:
    assert cutover(Evidence(86400, comparisons=188)) == (False, ("needs 312 more comparisons",))


def test_too_many_mismatches_says_the_rate_and_the_limit() -> None:
    assert cutover(Evidence(86400, comparisons=1000, mismatches=8)) == (
        False,
        ("mismatch rate 0.8% > 0.1%",),
    )


def test_too_many_candidate_errors_is_refused_apart_from_mismatches() -> None:
    assert cutover(Evidence(86400, comparisons=1000, candidate_errors=11)) == (
        False,
        ("candidate error rate 1.1% > 1%",),
    )


def test_every_shortfall_is_listed() -> None:
    allowed, shortfalls = cutover(Evidence(86400, comparisons=100, mismatches=5))
    assert not allowed
    assert shortfalls == ("needs 400 more comparisons", "mismatch rate 5% > 0.1%")


def test_the_refusal_explains_what_is_needed_and_what_the_store_holds() -> None:
    evidence = Evidence(86400, comparisons=188, mismatches=1)
    decision = decide(
        PROMOTE, evidence, from_mode="shadow", from_percent=0, to_mode="extracted", to_percent=0
    )
    text = decision.explain(capability="orders", step="cutover", promote=PROMOTE, evidence=evidence)
    assert "at least 500 comparisons" in text
    assert "mismatch rate <= 0.1%" in text
    assert "the store holds: 188 comparisons, 1 mismatches" in text
    assert "needs 312 more comparisons" in text
    assert "--force --reason" in text


@pytest.mark.parametrize(
    ("mode", "evidence", "text", "ready"),
    [
        ("legacy", Evidence(86400), "ready to shadow", True),
        ("shadow", ENOUGH, "ready to cutover", True),
        ("canary", Evidence(86400, comparisons=188), "needs 312 more comparisons", False),
        (
            "shadow",
            Evidence(86400, comparisons=1000, mismatches=8),
            "mismatch rate 0.8% > 0.1%",
            False,
        ),
        ("extracted", Evidence(86400), "cut over", True),
    ],
)
def test_readiness_names_the_next_step_and_what_it_lacks(
    mode: Mode, evidence: Evidence, text: str, ready: bool
) -> None:
    found = readiness(mode, has_service=True, promote=PROMOTE, evidence=evidence)
    assert (found.text, found.ready) == (text, ready)


def test_a_capability_without_a_service_has_no_next_step() -> None:
    found = readiness("legacy", has_service=False, promote=PROMOTE, evidence=Evidence(60))
    assert found.next_step is None
    assert not found.ready


def test_exposure_is_the_share_the_service_serves() -> None:
    assert [exposure(m, 30) for m in ("legacy", "shadow", "canary", "extracted")] == [0, 0, 30, 100]


@pytest.mark.parametrize(
    ("seconds", "text"), [(86400, "24h"), (7 * 86400, "7d"), (1800, "30m"), (90, "90s")]
)
def test_windows_read_as_written(seconds: float, text: str) -> None:
    assert format_window(seconds) == text


def test_rates_read_as_percents() -> None:
    assert (pct(0.008), pct(0.001), pct(None)) == ("0.8%", "0.1%", "-")
