"""The wording plan, retire and the map share (strangler.text)."""

from __future__ import annotations

from datetime import UTC, datetime

from strangler import text
from strangler.lifecycle import retirement


def test_when_methods_and_owners_read_as_one_wording() -> None:
    at = datetime(2026, 12, 3, 9, 5, 59, tzinfo=UTC)
    assert text.when(at) == "2026-12-03 09:05 UTC"
    assert text.when(None) == "-"
    assert text.methods(["HEAD", "GET"]) == "GET,HEAD"
    assert text.methods(None) == "*"
    assert text.methods(["POST", "GET"], sep=" ", any_method="any") == "GET POST"
    modes = {"a": "shadow"}
    assert text.owners((), partial=False, describe=modes.__getitem__) == "monolith"
    assert text.owners(("a",), partial=False, describe=modes.__getitem__) == "a (shadow)"
    assert (
        text.owners(("a", "b"), partial=True, describe=modes.__getitem__, modes={"b": "legacy"})
        == "partial: a (shadow), b (legacy)"
    )


def test_retirement_says_moments_with_the_shared_wording() -> None:
    assert not hasattr(retirement, "_when")
    assert retirement.when is text.when
