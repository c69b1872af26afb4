"""routes.yaml's tree built straight from libyaml's events: the ``CommentedMap``s,
``CommentedSeq``s, values and lines ruamel's round-trip loader gives, without its composer and
constructor (two thirds of the time a large file took).

It builds what a routes file holds: mappings, lists and scalars without anchors or tags.
Anything else (an anchor, an alias, a tag, a merge key, a duplicate or complex key, a second
document) raises ``Unsupported``, and the caller reads the file again with ruamel's composer
and constructor. A scalar that is not a string (an int, a float, a bool, null, a block scalar)
is made by ruamel's own constructor, so its type and value are ruamel's.

The bounds are those of the composer it stands in for: values are counted in the same order
(each key and value, a list or mapping before what it holds), nesting is counted the same way,
and ``over`` is told at the event that first crosses either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.tag import Tag

STR = "tag:yaml.org,2002:str"
MERGE = "tag:yaml.org,2002:merge"


class Unsupported(Exception):
    """The file holds something this builder leaves to ruamel's composer and constructor."""


# over(values so far, nesting depth, event): raises the bound's refusal
Over = Callable[[int, int, Any], NoReturn]


class _Scalars:
    """Plain, quoted and block scalars to values, as ruamel's round-trip constructor makes
    them: strings here, every other type by the constructor itself."""

    def __init__(self, resolver: Any, constructor: Any) -> None:
        table = resolver.versioned_resolver  # first character -> [(tag, regexp)]
        anywhere = table.get(None, [])
        self._by_first: dict[str, list[tuple[str, Any]]] = {
            first: [*rules, *anywhere] for first, rules in table.items() if first is not None
        }
        self._anywhere = anywhere
        self._constructor = constructor
        self._made = type(constructor).yaml_constructors

    def value(self, event: Any) -> Any:
        text: str = event.value
        style = event.style
        tag = STR
        if not style:  # plain: its type is read from its text
            rules = self._by_first.get(text[:1], self._anywhere)
            for candidate, regexp in rules:
                if regexp.match(text):
                    tag = candidate
                    break
            if tag == STR:
                return text
        elif style in "'\"":
            return text
        if tag == MERGE:
            raise Unsupported("merge key")
        node = ScalarNode(Tag(suffix=tag), text, event.start_mark, event.end_mark, style=style)
        return self._made[tag](self._constructor, node)


def build(
    parser: Any, resolver: Any, constructor: Any, *, max_nodes: int, max_depth: int, over: Over
) -> Any:
    """The document's tree (None for an empty stream), from ``parser``'s events."""
    scalars = _Scalars(resolver, constructor)
    get = parser.get_event
    get()  # stream start
    if type(get()) is not DocumentStartEvent:
        return None  # an empty stream
    # each open collection: [the collection, its key waiting for a value (in a tuple) or None,
    # the key's mark, the collection's flow style]
    stack: list[list[Any]] = []
    root: Any = None
    count = 0
    while True:
        event = get()
        kind = type(event)
        if kind is MappingEndEvent or kind is SequenceEndEvent:
            done, _, _, flow = stack.pop()
            if done and flow is not None:  # as ruamel's set_collection_style
                if flow:
                    done.fa.set_flow_style()
                else:
                    done.fa.set_block_style()
            if stack:
                continue
            root = done
            break
        if event.anchor is not None or event.tag is not None:
            raise Unsupported("anchor or tag")
        count += 1
        depth = len(stack) + 1
        if depth > max_depth or count > max_nodes:
            over(count, depth, event)
        mark = event.start_mark
        if kind is ScalarEvent:
            value: Any = scalars.value(event)
        elif kind is MappingStartEvent:
            value = CommentedMap()
            value._yaml_set_line_col(mark.line, mark.column)
        elif kind is SequenceStartEvent:
            value = CommentedSeq()
            value._yaml_set_line_col(mark.line, mark.column)
        else:
            raise Unsupported(type(event).__name__)  # an alias
        if stack:
            top = stack[-1]
            parent = top[0]
            if type(parent) is CommentedSeq:
                parent._yaml_set_idx_line_col(len(parent), [mark.line, mark.column])
                parent.append(value)
            elif top[1] is None:  # a key
                if kind is not ScalarEvent or value in parent:
                    raise Unsupported("complex or duplicate key")
                top[1], top[2] = (value,), mark
            else:
                key = top[1][0]
                key_mark = top[2]
                parent._yaml_set_kv_line_col(
                    key, [key_mark.line, key_mark.column, mark.line, mark.column]
                )
                parent[key] = value
                top[1] = None
        if kind is not ScalarEvent:
            stack.append([value, None, None, event.flow_style])
        elif not stack:
            root = value
            break
    if type(get()) is not DocumentEndEvent or type(get()) is not StreamEndEvent:
        raise Unsupported("more than one document")
    return root
