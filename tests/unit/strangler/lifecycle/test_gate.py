"""The evidence gate: which steps it guards, and what it needs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from facade.config import Mode, Promote
from strangler.lifecycle.gate import (
    DirectionHealth,
    Evidence,
    SyncEvidence,
    VerifyState,
    decide,
    exposure,
    format_window,
    pct,
    readiness,
    sync_shortfalls,
)

PROMOTE = Promote(
    min_comparisons=500,
    max_mismatch_rate=0.001,
    max_error_rate=0.01,
    window=86400,
    ungated_canary_percent=10,
    max_sync_lag=5,
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


# data sync ------------------------------------------------------------------------------------

VERIFIED = VerifyState(datetime(2026, 5, 2, 10, 11, tzinfo=UTC), True, {"same": 20})


def fwd(**overrides: Any) -> DirectionHealth:
    fields: dict[str, Any] = {"direction": "forward", "lag_seconds": 0.4, "heartbeat_age": 1.0}
    fields.update(overrides)
    return DirectionHealth(**fields)


def synced(*directions: DirectionHealth, verify: VerifyState | None = VERIFIED) -> SyncEvidence:
    return SyncEvidence("orders", True, directions, verify)


@pytest.mark.parametrize(
    ("sync", "expected"),
    [
        (synced(fwd()), ()),
        (synced(fwd(lag_seconds=5.0)), ()),  # at the limit passes
        (
            synced(fwd(lag_seconds=12.34)),
            ("sync lag 12.3s > promote.max_sync_lag 5s (forward; strangler data status orders)",),
        ),
        (
            synced(fwd(), fwd(direction="back", lag_seconds=7.0)),
            ("sync lag 7.0s > promote.max_sync_lag 5s (back; strangler data status orders)",),
        ),
        (
            synced(fwd(lag_seconds=0.0, heartbeat_age=94.2)),
            (
                "relay not running for forward: last heartbeat 94s ago, lag unknown "
                "(run: strangler data sync orders)",
            ),
        ),
        (synced(fwd(heartbeat_age=10.0)), ()),  # two missed beats are not yet a dead relay
        (
            synced(),
            ("no sync relay has reported for forward (run: strangler data sync orders)",),
        ),
        (
            synced(fwd(capture_state="absent")),
            ("capture not installed for forward (run: strangler data capture orders)",),
        ),
        (
            synced(fwd(capture_state="missing")),
            ("capture triggers missing for forward (run: strangler data capture orders)",),
        ),
        (
            synced(fwd(parked=3)),
            (
                "3 rows parked for forward (strangler data status orders; "
                "strangler data sync orders --retry-parked)",
            ),
        ),
        (
            synced(fwd(parked=1, pending=40, conflicts=2)),
            (
                "1 row parked for forward (strangler data status orders; "
                "strangler data sync orders --retry-parked)",
            ),
        ),
        (
            synced(fwd(), verify=None),
            ("no data verify recorded (run: strangler data verify orders)",),
        ),
        (
            synced(
                fwd(),
                verify=VerifyState(VERIFIED.at, False, {"same": 17, "different": 2, "missing": 1}),
            ),
            (
                "the latest data verify (2026-05-02 10:11 UTC) found 2 different, 1 missing rows "
                "(run: strangler data verify orders once the sync has caught up)",
            ),
        ),
        (
            synced(fwd(), verify=VerifyState(VERIFIED.at, False, {"untranslatable": 1})),
            (
                "the latest data verify (2026-05-02 10:11 UTC) found 1 untranslatable rows "
                "(run: strangler data verify orders once the sync has caught up)",
            ),
        ),
        (SyncEvidence("orders", False), ()),  # no data.sync: nothing to check
        (None, ()),
    ],
)
def test_sync_shortfalls_name_the_reason_and_what_to_run(
    sync: SyncEvidence | None, expected: tuple[str, ...]
) -> None:
    assert sync_shortfalls(PROMOTE, sync) == expected


def test_every_sync_shortfall_is_listed_after_the_comparisons() -> None:
    sync = synced(fwd(lag_seconds=9, parked=2), verify=None)
    decision = decide(
        PROMOTE, Evidence(86400, comparisons=100), from_mode="shadow", from_percent=0,
        to_mode="extracted", to_percent=0, sync=sync,
    )  # fmt: skip
    assert not decision.allowed
    assert decision.shortfalls[0] == "needs 400 more comparisons"
    assert [s.split(" ")[1] for s in decision.shortfalls[1:]] == ["lag", "rows", "data"]
    assert decision.sync_shortfalls == 3


@pytest.mark.parametrize(("to_mode", "to_percent", "gated"), [("canary", 50, True),
                                                              ("canary", 5, False),
                                                              ("shadow", 0, False)])  # fmt: skip
def test_the_sync_gates_the_steps_the_evidence_gates(
    to_mode: Mode, to_percent: float, gated: bool
) -> None:
    decision = decide(
        PROMOTE, ENOUGH, from_mode="shadow", from_percent=0, to_mode=to_mode,
        to_percent=to_percent, sync=synced(fwd(parked=1)),
    )  # fmt: skip
    assert decision.allowed is not gated


def test_a_sync_refusal_explains_itself_in_a_data_sync_paragraph() -> None:
    decision = decide(
        PROMOTE, ENOUGH, from_mode="shadow", from_percent=0, to_mode="extracted", to_percent=0,
        sync=synced(fwd(lag_seconds=12.3)),
    )  # fmt: skip
    text = decision.explain(capability="orders", step="cutover", promote=PROMOTE, evidence=ENOUGH)
    assert text.splitlines() == [
        "refused: cutover of 'orders' while its data is not in step.",
        "data sync: needed: the relay running with a lag <= 5s, capture installed, no parked "
        "rows, and a clean `strangler data verify`",
        "  - sync lag 12.3s > promote.max_sync_lag 5s (forward; strangler data status orders)",
        "To go ahead anyway: --force --reason TEXT (the override is audited).",
    ]


def test_both_paragraphs_when_both_kinds_fall_short() -> None:
    evidence = Evidence(86400, comparisons=188)
    decision = decide(
        PROMOTE, evidence, from_mode="shadow", from_percent=0, to_mode="extracted", to_percent=0,
        sync=synced(fwd(), verify=None),
    )  # fmt: skip
    text = decision.explain(capability="orders", step="cutover", promote=PROMOTE, evidence=evidence)
    assert "  - needs 312 more comparisons\ndata sync: needed:" in text
    assert "  - no data verify recorded (run: strangler data verify orders)" in text
    assert "Evidence is gathered in shadow mode" in text


def test_readiness_counts_the_sync_too() -> None:
    found = readiness(
        "shadow", has_service=True, promote=PROMOTE, evidence=ENOUGH, sync=synced(fwd(parked=2))
    )
    assert not found.ready
    assert found.text.startswith("2 rows parked for forward")


DEAD_BACK = fwd(direction="back", lag_seconds=0.0, heartbeat_age=3600.0)  # stopped by a rollback
BACK_DOWN = (
    "relay not running for back: last heartbeat 3600s ago, lag unknown "
    "(run: strangler data sync orders)"
)


@pytest.mark.parametrize(
    ("from_mode", "to_mode", "expected"),
    [
        ("shadow", "extracted", ()),  # rolled back from canary: the way back no longer runs
        ("shadow", "canary", ()),  # the step itself starts the way back
        ("canary", "extracted", (BACK_DOWN,)),  # it should run now, and after
    ],
)
def test_the_gate_judges_only_the_relays_the_step_depends_on(
    from_mode: Mode, to_mode: Mode, expected: tuple[str, ...]
) -> None:
    sync = replace(synced(fwd(), DEAD_BACK), has_back=True)

    decision = decide(
        PROMOTE, ENOUGH, from_mode=from_mode, from_percent=0, to_mode=to_mode, to_percent=50,
        sync=sync,
    )  # fmt: skip

    assert decision.shortfalls == expected


def test_readiness_after_a_rollback_is_not_held_by_the_stopped_back_relay() -> None:
    sync = replace(synced(fwd(), DEAD_BACK), has_back=True)

    assert readiness("shadow", has_service=True, promote=PROMOTE, evidence=ENOUGH, sync=sync).ready
    assert not readiness(
        "canary", has_service=True, promote=PROMOTE, evidence=ENOUGH, sync=sync
    ).ready
