"""STRANGLER_SEAMS as the system check reads it (the checks themselves run against a real
project in tests/integration/test_django_app.py)."""

from __future__ import annotations

import re

import pytest

from strangler_django.checks import Declared, declared_seams


def test_a_declaration_gives_each_seam_its_keys_and_statefulness() -> None:
    declared = declared_seams(
        {"pricing": {"keys": ["customer"]}, "inventory": {"keys": ["sku"], "stateful": True}}
    )
    assert declared == {
        "pricing": Declared(frozenset({"customer"}), stateful=False),
        "inventory": Declared(frozenset({"sku"}), stateful=True),
    }
    assert declared_seams({"plain": {}}) == {"plain": Declared(frozenset(), stateful=False)}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (["pricing"], "must be a dict of seam name -> options"),
        ({"pricing": ["customer"]}, "STRANGLER_SEAMS['pricing'] must be a dict"),
        ({"pricing": {"key": ["customer"]}}, "unknown options ['key']"),
        ({"pricing": {"keys": "customer"}}, "['keys'] must be a list of names"),
        ({"pricing": {"keys": [1]}}, "['keys'] must be a list of names"),
    ],
)
def test_a_malformed_declaration_says_what_is_wrong(raw: object, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        declared_seams(raw)
