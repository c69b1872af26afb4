"""The endpoint inventory file as read: where its errors are, how it is bounded."""

from __future__ import annotations

import pytest

from facade.config.endpoints import parse_inventory
from facade.errors import ConfigError


def test_an_error_names_the_line_of_the_top_level_endpoints_even_after_an_earlier_one() -> None:
    # an "endpoints" key with a list inside an earlier value is not the inventory's own
    text = (
        '{"generated_by": {"endpoints": ["manage.py strangler_endpoints"]},\n'
        ' "version": 1, "endpoints": [\n'
        '  {"template": "/a"},\n'
        '  {"template": "/{"}\n'
        "]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_inventory(text, source="e.json")
    assert [(p.path, p.line) for p in caught.value.problems] == [("e.json", 4)]


def test_a_wrong_version_names_the_top_level_key_not_an_earlier_mention() -> None:
    text = '{"about": {"version": 1},\n "endpoints": [],\n "version": 2}\n'
    with pytest.raises(ConfigError) as caught:
        parse_inventory(text, source="e.json")
    assert [p.line for p in caught.value.problems] == [3]
