"""Editing routes.yaml text: only the changed value moves; comments, quotes, order, flow style
and indentation stay byte for byte; an edit that would change more is refused."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from facade.config import parse
from strangler.lifecycle.routes_edit import (
    EditError,
    format_percent,
    set_capability,
    set_capability_keys,
)

SHIPPED = (Path(__file__).resolve().parents[4] / "routes.yaml").read_text()

BLOCK = """\
# top comment
version: 1
legacy: {url: "http://127.0.0.1:8000"}   # the monolith
services:
  catalog: {url: "http://127.0.0.1:8101"}
capabilities:
  products:
    # the catalog read side
    match:
    - {methods: [GET], path: '/api/products/{sku}'}
    service: catalog      # extracted in Q3
    mode: shadow          # keep this comment
    canary:
      sticky: client_ip   # sticky comment
      percent: "10%"
"""


def changed_lines(old: str, new: str) -> list[str]:
    """The removed (-) and added (+) lines, removed first, each group in file order."""
    diff = [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return [line for line in diff if line[0] == "-"] + [line for line in diff if line[0] == "+"]


def test_changing_the_mode_changes_only_that_word_in_the_shipped_file() -> None:
    new = set_capability(SHIPPED, "orders", mode="shadow", percent=None)
    assert changed_lines(SHIPPED, new) == ["-    mode: legacy", "+    mode: shadow"]
    routes, _ = parse(new)
    assert routes.capabilities["orders"].mode == "shadow"


def test_a_flow_style_canary_stays_flow_style_with_its_other_keys() -> None:
    new = set_capability(SHIPPED, "product-catalog", mode="canary", percent=25)
    assert changed_lines(SHIPPED, new) == [
        "-    mode: legacy",
        '-    canary: {percent: 10, sticky: "header:X-Customer-Id"}',
        "+    mode: canary",
        '+    canary: {percent: 25, sticky: "header:X-Customer-Id"}',
    ]
    routes, _ = parse(new)
    assert routes.capabilities["product-catalog"].canary.percent == 25


def test_comments_quotes_and_indentation_survive_byte_for_byte() -> None:
    new = set_capability(BLOCK, "products", mode="canary", percent=12.5)
    assert changed_lines(BLOCK, new) == [
        "-    mode: shadow          # keep this comment",
        '-      percent: "10%"',
        "+    mode: canary          # keep this comment",
        '+      percent: "12.5%"',
    ]
    routes, _ = parse(new)
    assert routes.capabilities["products"].canary.percent == 12.5


def test_a_missing_mode_and_canary_are_inserted_under_service() -> None:
    text = BLOCK.replace("    mode: shadow          # keep this comment\n", "").replace(
        '    canary:\n      sticky: client_ip   # sticky comment\n      percent: "10%"\n', ""
    )
    new = set_capability(text, "products", mode="canary", percent=5)
    assert changed_lines(text, new) == ["+    mode: canary", "+    canary: {percent: 5}"]
    assert new.index("service: catalog") < new.index("mode: canary")
    routes, _ = parse(new)
    assert routes.capabilities["products"].mode == "canary"


def test_a_missing_percent_goes_into_an_existing_block_canary() -> None:
    text = BLOCK.replace('      percent: "10%"\n', "")
    new = set_capability(text, "products", mode="canary", percent=30)
    assert changed_lines(text, new) == [
        "-    mode: shadow          # keep this comment",
        "+    mode: canary          # keep this comment",
        "+      percent: 30",
    ]
    assert "      percent: 30\n      sticky: client_ip   # sticky comment\n" in new


def test_a_capability_written_as_one_flow_mapping_is_edited_inside_it() -> None:
    text = (
        "version: 1\nlegacy: {url: 'http://x:1'}\nservices: {s: {url: 'http://y:2'}}\n"
        "capabilities:\n  a: {match: [{path: /a}], service: s}   # one line\n"
    )
    new = set_capability(text, "a", mode="canary", percent=5)
    assert changed_lines(text, new) == [
        "-  a: {match: [{path: /a}], service: s}   # one line",
        "+  a: {mode: canary, canary: {percent: 5}, match: [{path: /a}], service: s}   # one line",
    ]


def test_an_unknown_capability_is_an_edit_error() -> None:
    with pytest.raises(EditError, match="no capability 'nope'"):
        set_capability(SHIPPED, "nope", mode="shadow", percent=None)


def test_the_file_without_a_final_newline_gets_the_new_key_on_its_own_line() -> None:
    text = "version: 1\nlegacy: {url: 'http://x:1'}\nservices: {s: {url: 'http://y:2'}}\n"
    text += "capabilities:\n  a:\n    match: [{path: /a}]\n    service: s"
    new = set_capability(text, "a", mode="shadow", percent=None)
    assert new.endswith("    service: s\n    mode: shadow")
    parse(new)


@pytest.mark.parametrize(("value", "text"), [(25.0, "25"), (12.5, "12.5"), (0.25, "0.25")])
def test_percents_are_written_as_people_write_them(value: float, text: str) -> None:
    assert format_percent(value) == text


def test_retiring_replaces_a_fallback_in_place_and_adds_retired_under_the_mode() -> None:
    text = BLOCK.replace("mode: shadow          # keep", "mode: extracted       # keep").replace(
        "    canary:", "    fallback: legacy      # for now\n    canary:"
    )
    new = set_capability_keys(text, "products", {"retired": "true", "fallback": "error"})
    assert changed_lines(text, new) == [
        "-    fallback: legacy      # for now",
        "+    retired: true",
        "+    fallback: error      # for now",
    ]
    routes, _ = parse(new)
    cap = routes.capabilities["products"]
    assert (cap.retired, cap.fallback, cap.mode) == (True, "error", "extracted")


def test_retiring_a_capability_written_as_one_flow_mapping_edits_inside_it() -> None:
    text = BLOCK.split("capabilities:")[0] + (
        "capabilities:\n"
        "  products: {match: [{path: /p}], service: catalog, mode: extracted}  # one line\n"
    )
    new = set_capability_keys(text, "products", {"retired": "true", "fallback": "error"})
    assert "# one line" in new
    cap = parse(new)[0].capabilities["products"]
    assert (cap.retired, cap.fallback) == (True, "error")
