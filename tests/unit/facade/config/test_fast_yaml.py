"""routes.yaml read with libyaml's C parser (``_FastLoader``) gives the tree, values and lines
ruamel's pure-Python round-trip loader gives; what it cannot read the same way goes to the
pure-Python loader, whose words every error keeps."""

from __future__ import annotations

from typing import Any

import pytest
from ruamel.yaml import YAML

from facade.config import model as config
from facade.errors import ConfigError

SAMPLE = """\
version: 1
legacy: {url: 'http://127.0.0.1:8000', timeout: 5s}
services:
  a: &defaults {url: 'http://127.0.0.1:8101', timeout: 3s, retries: 2}
  b: {<<: *defaults, url: 'http://127.0.0.1:8102'}
capabilities:
  orders:   # a comment
    match:
      - {methods: [GET, HEAD], path: "/orders/{id}"}
      - path: /orders
    service: a
    mode: shadow
    canary: {percent: 5.5, sticky: "header:X-Customer-Id"}
    flags: [yes, no, on, true, null, ~, 0o17, 017, 1e3, .inf, 2025-01-01]
"""


def _as_tuple(where: Any) -> Any:
    # ruamel keeps a key's [line, col, value line, value col] in a list, the builder a tuple
    return None if where is None else tuple(where)


def lines(node: Any) -> Any:
    """Every mapping's and list's position, and its keys' and items', as nested data."""
    if isinstance(node, dict):
        return (
            (node.lc.line, node.lc.col),
            {k: (_as_tuple(node.lc.data.get(k)), lines(v)) for k, v in node.items()},
        )
    if isinstance(node, list):
        return (
            (node.lc.line, node.lc.col),
            [(node.lc.item(i), lines(v)) for i, v in enumerate(node)],
        )
    return None


def pure(text: str) -> Any:
    return YAML(typ="rt").load(text)


def test_the_fast_loader_reads_what_the_round_trip_loader_reads() -> None:
    fast, tree = config._fast_tree(SAMPLE, 10_000)
    assert fast
    expected = pure(SAMPLE)
    assert tree == expected
    assert [type(v) for v in tree["capabilities"]["orders"]["flags"]] == [
        type(v) for v in expected["capabilities"]["orders"]["flags"]
    ]
    assert lines(tree) == lines(expected)


@pytest.mark.parametrize(
    "text",
    [
        "%YAML 1.1\n---\nversion: 1\n",  # a directive: YAML 1.1 rules, the pure loader's
        "version: 1\nlegacy: {url: [\n",  # a syntax error: the pure loader's words
        "version: 1\n---\nversion: 2\n",  # two documents
        "a: 1\na: 2\n",  # a duplicate key: ruamel's error, in its words
        "a: !!str 1\n",  # a tag: libyaml resolves it, ruamel keeps it (TaggedScalar)
        "a: &x [1]\nb: !foo x\n",  # the same after an anchor
    ],
)
def test_what_it_cannot_read_the_same_way_is_left_to_the_pure_loader(text: str) -> None:
    assert config._fast_tree(text, 10_000) == (False, None)


def test_a_syntax_error_reads_as_it_always_has() -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse("version: 1\nlegacy: {url: 'x'\nservices: {}\n")
    assert str(caught.value.problems[0]).startswith("routes.yaml:3: YAML syntax error:")


def test_nesting_too_deep_for_c_recursion_is_refused_not_a_crash() -> None:
    # libyaml's own composer recurses in C on each level: 100,000 of them end the process
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ConfigError) as caught:
        config.parse(f"version: 1\nx: {deep}\n")
    assert f"values nested more than {config.MAX_DEPTH} levels deep" in str(caught.value)


# what a routes file holds, without anchors or tags: built from libyaml's events directly
PLAIN = """\
version: 1
legacy: {url: 'http://127.0.0.1:8000', timeout: 5s}
services:
  a: {url: "http://127.0.0.1:8101", timeout: 3s, retries: 2}
capabilities:
  orders:   # a comment
    match:
      - {methods: [GET, HEAD], path: "/orders/{id}"}
      - path: /orders
      -
        path: /orders/x
    service: a
    mode: shadow
    canary: {percent: 5.5, sticky: "header:X-Customer-Id"}
    empty: {}
    none: []
    note: |
      two
      lines
    folded: >
      one
      line
    flags: [0, -0, +5, 42, 1_0, yes, no, on, true, False, null, ~, '', 0o17, 017, 0x1F,
            1_000, -3, 1e3, .inf, -.nan, 2025-01-01, "7", '8']
    when: 2025-01-01T10:00:00Z
    ? plain key
    : 1
    3: an int key
    ~: a null key
"""


def test_the_event_builder_reads_what_the_round_trip_loader_reads(monkeypatch: Any) -> None:
    fallback = pytest.fail  # the builder reads it all: ruamel's composer is never asked
    monkeypatch.setattr(config._FastComposer, "get_single_node", lambda _self: fallback())
    fast, tree = config._fast_tree(PLAIN, 10_000)
    assert fast
    expected = pure(PLAIN)
    assert tree == expected
    assert lines(tree) == lines(expected)
    flags, wanted = tree["capabilities"]["orders"]["flags"], expected["capabilities"]["orders"]
    assert [(type(v), repr(v)) for v in flags] == [(type(v), repr(v)) for v in wanted["flags"]]
    for key in ("note", "folded"):
        assert type(tree["capabilities"]["orders"][key]) is type(wanted[key])


def test_the_event_builder_reads_a_large_file_as_the_round_trip_loader_does() -> None:
    caps = "".join(
        f"  cap-{i}:\n    match:\n      - {{methods: [GET, HEAD], path: /api/thing{i}}}\n"
        f'      - {{methods: [POST], path: "/api/thing{i}/{{id}}/act"}}\n'
        f"    service: catalog\n    mode: shadow\n    canary: {{percent: {i % 7}.5}}\n"
        for i in range(300)
    )
    text = f"version: 1\ncapabilities:\n{caps}"
    fast, tree = config._fast_tree(text, 100_000)
    assert fast
    expected = pure(text)
    assert tree == expected
    assert lines(tree) == lines(expected)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x {b: 1}\nc: *x\n",  # anchors and aliases
        "base: {a: 1}\nb: {<<: {a: 2}, c: 3}\n",  # a merge key
        "? [a, b]\n: 1\n",  # a complex key
    ],
)
def test_what_the_event_builder_leaves_to_ruamel_reads_as_ruamel_reads_it(text: str) -> None:
    expected = pure(text)
    fast, tree = config._fast_tree(text, 10_000)
    assert fast
    assert tree == expected
    assert lines(tree) == lines(expected)


def test_the_event_builder_refuses_as_the_composer_does() -> None:
    deep = "a:\n" + "".join("  " * i + "- \n" for i in range(1, 70))
    many = "".join(f"k{i}: v\n" for i in range(100))
    for text, max_nodes in ((deep, 10_000), (many, 150)):
        with pytest.raises(config._Refused) as built:
            config._fast_tree(text, max_nodes)
        composer = config._FastLoader(text, max_nodes=max_nodes)
        with pytest.raises(config._Refused) as composed:
            composer._composer.get_single_node()
        assert (str(built.value), built.value.line) == (str(composed.value), composed.value.line)


def test_a_colon_inside_a_flow_scalar_is_read_fast_as_the_round_trip_loader_reads_it() -> None:
    # what data sync's routes files say (`sync: {capture: module:attr}`): ruamel.yaml.clib's
    # libyaml refused it, and the whole file went to the pure-Python loader (seconds for a
    # large one); PyYAML's libyaml reads it
    text = (
        "version: 1\ncapabilities:\n  products:\n    match: [{path: /p}]\n"
        "    data: {source: 'shop.data:products', sync: {capture: shop.data:capture, k: sku}}\n"
    )
    fast, tree = config._fast_tree(text, 10_000)
    assert fast
    expected = pure(text)
    assert tree == expected
    assert lines(tree) == lines(expected)
