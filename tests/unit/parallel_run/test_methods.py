"""The one definition of HTTP method semantics, and the sets built from it."""

from __future__ import annotations

from facade import shadow
from parallel_run.methods import IDEMPOTENT_METHODS, SAFE_METHODS


def test_safe_and_idempotent_methods_are_rfc_9110s() -> None:
    assert frozenset({"GET", "HEAD", "OPTIONS", "TRACE"}) == SAFE_METHODS
    assert {"PUT", "DELETE"} == IDEMPOTENT_METHODS - SAFE_METHODS
    assert not {"POST", "PATCH", "CONNECT"} & IDEMPOTENT_METHODS


def test_the_shadow_mirrors_the_safe_methods_but_trace() -> None:
    assert {"TRACE"} == SAFE_METHODS - shadow.SHADOWED_METHODS
    assert shadow.SHADOWED_METHODS < SAFE_METHODS
