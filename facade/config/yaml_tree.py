"""routes.yaml's tree built straight from libyaml's events: the mappings, lists, values and
lines ruamel's round-trip loader gives, without its composer and constructor (two thirds of
the time a large file took).

The events are PyYAML's (its libyaml binding, ``yaml._yaml.CParser``): each is one Python
object with one ``__init__`` and plain attributes, where ruamel.yaml.clib's runs three
``__init__``s and reads ``tag`` through a property (10,000 capabilities: 0.49 s -> 0.40 s of
CPU for the tree). Its libyaml is also newer: it reads a colon inside a plain scalar of a flow
mapping (``sync: {capture: shop.data:capture}``), which the older one refused, sending the
whole file to ruamel's pure-Python loader (3,000 capabilities: seconds).

Mappings and lists are ``YamlMap`` and ``YamlSeq``: a dict and a list with ruamel's line-col
record as ``lc``, where ruamel's round-trip types carry comments, anchors and styles too, and
override the dict's methods in Python: pydantic validates a tree of them in half the time it
takes over ``CommentedMap``s (10,000 capabilities: 0.30 s -> 0.14 s).

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

import re
from collections.abc import Callable
from typing import Any, NoReturn

from ruamel.yaml.comments import LineCol
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.tag import Tag
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

STR = "tag:yaml.org,2002:str"
# a plain decimal integer: ruamel's round-trip constructor gives a plain int for it (YAML 1.2;
# a leading zero or an underscore makes a ScalarInt, which it is left to make)
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")


class YamlMap(dict[Any, Any]):
    """A mapping of the file; ``lc`` as a ``CommentedMap``'s (``lc.key(k)``, ``lc.value(k)``)."""

    __slots__ = ("lc",)
    lc: LineCol


class YamlSeq(list[Any]):
    """A list of the file; ``lc`` as a ``CommentedSeq``'s (``lc.item(i)``)."""

    __slots__ = ("lc",)
    lc: LineCol


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
        # a plain scalar starting with none of these is a string, found without a call
        self.plain_strings = not anywhere
        self.typed_first = frozenset(self._by_first)
        self._constructor = constructor
        self._made = type(constructor).yaml_constructors

    def value(self, event: Any) -> Any:
        text: str = event.value
        style = event.style
        tag = STR
        if not style and _DECIMAL.match(text):
            return int(text)  # what the constructor returns for one without an anchor
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
    """The document's tree (None for an empty stream), from ``parser``'s events.

    A function a mapping and one a list, each reading its own items' events up to its end: the
    key waiting for its value, the open collection and its lines are local variables, where a
    loop over every event kept them in a stack of lists (10,000 capabilities: 0.42-0.46 s ->
    0.38 s of CPU for the tree). They recurse one level a nesting level, at most ``max_depth``
    (``over`` refuses a deeper one first).
    """
    scalars = _Scalars(resolver, constructor)
    made = scalars.value
    typed_first, plain_strings = scalars.typed_first, scalars.plain_strings
    get = parser.get_event
    new = object.__new__
    count = 0

    def at(event: Any) -> LineCol:
        # every attribute set here: no call of LineCol's __init__
        record = new(LineCol)
        mark = event.start_mark
        record.line, record.col, record.data = mark.line, mark.column, None
        return record

    def scalar(event: Any) -> Any:
        style = event.style
        if style and style in "'\"":
            return event.value  # quoted: a string
        return made(event)  # a block scalar, or a plain one whose type is read from its text

    def item(event: Any, depth: int) -> Any:
        """The value ``event`` starts (a scalar's, or a collection read to its end), counted."""
        nonlocal count
        if event.anchor is not None or event.tag is not None:  # an alias has an anchor
            raise Unsupported("anchor, alias or tag")
        count += 1
        if count > max_nodes or depth > max_depth:
            over(count, depth, event)
        kind = type(event)
        if kind is ScalarEvent:
            value = event.value
            if event.style or value[:1] in typed_first or not plain_strings:
                return scalar(event)
            return value  # a plain string, the common case
        if kind is MappingStartEvent:
            return mapping(event, depth + 1)
        if kind is SequenceStartEvent:
            return sequence(event, depth + 1)
        raise Unsupported(kind.__name__)

    def mapping(start: Any, depth: int) -> YamlMap:
        nonlocal count
        out = YamlMap()
        out.lc = record = at(start)
        lines: dict[Any, tuple[int, int, int, int]] = {}
        while True:
            event = get()
            if type(event) is MappingEndEvent:
                break
            # the key: counted as ``item`` counts it, but refused before a complex one is read
            if event.anchor is not None or event.tag is not None:
                raise Unsupported("anchor, alias or tag")
            count += 1
            if count > max_nodes or depth > max_depth:
                over(count, depth, event)
            if type(event) is not ScalarEvent:
                raise Unsupported("complex key")
            key = event.value
            if event.style or key[:1] in typed_first or not plain_strings:
                key = scalar(event)
            if key in out:
                raise Unsupported("duplicate key")
            value_event = get()
            value = item(value_event, depth)
            key_mark: Any = event.start_mark  # set on every event libyaml makes
            value_mark: Any = value_event.start_mark
            lines[key] = (key_mark.line, key_mark.column, value_mark.line, value_mark.column)
            out[key] = value
        if lines:
            record.data = lines  # ruamel's stays None for an empty one
        return out

    def sequence(start: Any, depth: int) -> YamlSeq:
        out = YamlSeq()
        out.lc = record = at(start)
        lines: dict[int, tuple[int, int]] = {}
        append = out.append
        while True:
            event = get()
            if type(event) is SequenceEndEvent:
                break
            mark = event.start_mark
            lines[len(out)] = (mark.line, mark.column)
            append(item(event, depth))
        if lines:
            record.data = lines
        return out

    get()  # stream start
    if type(get()) is not DocumentStartEvent:
        return None  # an empty stream
    root = item(get(), 1)
    if type(get()) is not DocumentEndEvent or type(get()) is not StreamEndEvent:
        raise Unsupported("more than one document")
    return root
