"""Change one capability's ``mode`` and ``canary.percent`` (or other plain keys: ``retired``,
``fallback``) in routes.yaml text, keeping the rest.

Pure: text in, text out. ruamel.yaml's round-trip loader says where each value sits (line and
column, in block and flow mappings alike); the new value is spliced into the original text at
exactly that place, so comments, key order, quoting, indentation and flow style stay byte for
byte. A key that is missing is inserted as a line of its own next to its siblings (``mode``
after ``service``) or, inside a flow mapping, as ``percent: P,`` before its first key. Only a
layout with no safe place to insert (a capability written as one flow mapping, a multi-line
value) falls back to ruamel's own round-trip dump, which keeps comments and order but may
re-indent. Whatever path was taken, the result is loaded again and must equal the original
with exactly the intended change, or ``EditError`` is raised: an edit never changes more than
it says.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from facade.config import Mode
from facade.errors import FacadeError

_WORD_TOKEN = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|[A-Za-z_]+")
_PERCENT_TOKEN = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|[0-9][0-9.]*%?")


class EditError(FacadeError):
    """routes.yaml cannot be edited as asked; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class _Splice:
    start: int
    end: int
    text: str


def format_percent(percent: float) -> str:
    """25.0 -> ``25``; 12.5 -> ``12.5``: the way a person writes it."""
    if float(percent).is_integer():
        return str(int(percent))
    return f"{percent:.6f}".rstrip("0")


def set_capability(text: str, capability: str, *, mode: Mode, percent: float | None) -> str:
    """``text`` with ``capabilities.<capability>.mode`` set to ``mode`` and, when ``percent``
    is given, ``canary.percent`` set to it; nothing else changes."""
    return _edit(text, capability, {"mode": mode}, percent=percent)


def set_capability_keys(text: str, capability: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``capabilities.<capability>.<key>`` set to its plain scalar in
    ``values`` (as YAML writes it: ``true``, ``error``); a missing key is inserted under
    ``mode``. Nothing else changes (``strangler retire``: ``retired: true``, ``fallback:
    error``)."""
    return _edit(text, capability, values, percent=None)


def _edit(text: str, capability: str, values: Mapping[str, str], *, percent: float | None) -> str:
    tree = _load(text)
    cap = _capability(tree, capability)
    expected = _plain(tree)  # before any edit: the dump path below changes its own copy
    try:
        new_text = _splice_edit(text, cap, values, percent=percent)
    except _NoSafePlace:
        new_text = _dump_edit(text, capability, values, percent=percent)
    _check(expected, new_text, capability, values, percent=percent)
    return new_text


class _NoSafePlace(Exception):
    pass


def _load(text: str) -> CommentedMap:
    try:
        tree = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise EditError(f"routes.yaml is not valid YAML: {exc}") from None
    if not isinstance(tree, CommentedMap):
        raise EditError("routes.yaml's top level is not a mapping")
    return tree


def _capability(tree: CommentedMap, capability: str) -> CommentedMap:
    caps = tree.get("capabilities")
    if not isinstance(caps, CommentedMap) or capability not in caps:
        raise EditError(f"no capability {capability!r} under 'capabilities:'")
    cap = caps[capability]
    if not isinstance(cap, CommentedMap):
        raise EditError(f"capability {capability!r} is not a mapping")
    return cap


def _splice_edit(
    text: str, cap: CommentedMap, values: Mapping[str, str], *, percent: float | None
) -> str:
    starts = _line_starts(text)
    splices: list[_Splice] = []
    new_keys: list[str] = []  # keys the capability lacks, in the order they are written
    for key, value in values.items():
        if key in cap:
            if isinstance(cap[key], CommentedMap | CommentedSeq):
                raise _NoSafePlace
            splices.append(_replace_value(text, starts, cap, key, value, _WORD_TOKEN))
        else:
            new_keys.append(f"{key}: {value}")
    if percent is not None:
        value = format_percent(percent)
        canary = cap.get("canary")
        if canary is None and "canary" not in cap:
            new_keys.append(f"canary: {{percent: {value}}}")
        elif isinstance(canary, CommentedMap):
            if "percent" in canary:
                splices.append(
                    _replace_value(text, starts, canary, "percent", value, _PERCENT_TOKEN)
                )
            else:
                splices.append(_insert_key(text, starts, canary, f"percent: {value}"))
        else:
            raise _NoSafePlace
    if new_keys and cap.fa.flow_style():
        splices.append(_insert_key(text, starts, cap, ", ".join(new_keys)))
    elif new_keys:
        # mode goes under service:, a new canary: under mode:
        anchor = "mode" if "mode" in cap else "service"
        splices.append(_insert_after(text, starts, cap, anchor, new_keys))
    out = text
    for splice in sorted(splices, key=lambda s: s.start, reverse=True):
        out = out[: splice.start] + splice.text + out[splice.end :]
    return out


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for index, char in enumerate(text):
        if char == "\n":
            starts.append(index + 1)
    return starts


def _offset(starts: list[int], line: int, col: int) -> int:
    if line >= len(starts):
        raise _NoSafePlace
    return starts[line] + col


def _replace_value(
    text: str, starts: list[int], node: CommentedMap, key: str, value: str, token: re.Pattern[str]
) -> _Splice:
    line, col = node.lc.value(key)
    start = _offset(starts, line, col)
    found = token.match(text, start)
    if found is None:
        raise _NoSafePlace
    old = found.group(0)
    quote = old[0] if old[0] in "\"'" else ""
    if quote and "%" in old and token is _PERCENT_TOKEN:
        value += "%"
    return _Splice(start, found.end(), f"{quote}{value}{quote}")


def _insert_key(text: str, starts: list[int], node: CommentedMap, item: str) -> _Splice:
    """``item`` (``key: value``) placed just before the mapping's first key."""
    if not node:
        raise _NoSafePlace  # `canary: {}` or an empty block: nothing to stand next to
    first = next(iter(node))
    line, col = node.lc.key(first)
    start = _offset(starts, line, col)
    if node.fa.flow_style():
        return _Splice(start, start, f"{item}, ")
    if text[starts[line] : start].strip():
        raise _NoSafePlace  # the first key shares its line with something else
    return _Splice(start, start, f"{item}\n{' ' * col}")


def _insert_after(
    text: str, starts: list[int], node: CommentedMap, key: str, lines: list[str]
) -> _Splice:
    """New ``lines`` right under ``key``'s line, at its indentation (block mappings only)."""
    if node.fa.flow_style() or key not in node:
        raise _NoSafePlace
    key_line, col = node.lc.key(key)
    value_line, _ = node.lc.value(key)
    if value_line != key_line or text[starts[key_line] : starts[key_line] + col].strip():
        raise _NoSafePlace
    if isinstance(node[key], CommentedMap | CommentedSeq):
        raise _NoSafePlace
    indent = " " * col
    block = "".join(f"{indent}{line}\n" for line in lines)
    if key_line + 1 < len(starts):
        at = starts[key_line + 1]
        return _Splice(at, at, block)
    # the key is on the last line and the file has no final newline
    return _Splice(len(text), len(text), "\n" + block.rstrip("\n"))


def _scalar(value: str) -> Any:
    """What YAML reads ``value`` (a plain scalar as written) as: ``true`` -> True."""
    return YAML(typ="safe").load(value)


def _dump_edit(
    text: str, capability: str, values: Mapping[str, str], *, percent: float | None
) -> str:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    tree = yaml.load(text)
    cap = tree["capabilities"][capability]
    for key, text_value in values.items():
        cap[key] = _scalar(text_value)
    if percent is not None:
        canary = cap.get("canary")
        value: int | float = int(percent) if float(percent).is_integer() else percent
        if isinstance(canary, CommentedMap):
            canary["percent"] = value
        else:
            flow = CommentedMap(percent=value)
            flow.fa.set_flow_style()
            cap["canary"] = flow
    out = io.StringIO()
    yaml.dump(tree, out)
    return out.getvalue()


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _check(
    expected: Any, new: str, capability: str, values: Mapping[str, str], *, percent: float | None
) -> None:
    """The edited text must load to the original tree (``expected``, plain) with exactly the
    intended change."""
    cap = expected["capabilities"][capability]
    for key, value in values.items():
        cap[key] = _scalar(value)
    if percent is not None:
        canary = cap.get("canary")
        if not isinstance(canary, dict):
            canary = cap["canary"] = {}
        canary["percent"] = _percent_value(canary.get("percent"), percent)
    try:
        actual = _plain(_load(new))
    except EditError as exc:
        raise EditError(f"the edit of {capability!r} produced invalid YAML ({exc})") from None
    if actual != expected:
        keys = [*values, *(["percent"] if percent is not None else [])]
        raise EditError(
            f"cannot edit capability {capability!r} without changing more than its "
            f"{' and '.join(keys)}; edit routes.yaml by hand (the facade picks it up and "
            "audits it)"
        )


def _percent_value(old: Any, percent: float) -> Any:
    # a quoted "10%" stays a string in the tree: compare like with like
    if isinstance(old, str):
        suffix = "%" if "%" in old else ""
        return f"{format_percent(percent)}{suffix}"
    return percent
