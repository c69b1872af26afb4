"""The project's endpoint inventory, read from Django's own resolver tree.

``inventory(urlconf)`` walks ``get_resolver(urlconf)`` (``URLResolver`` / ``URLPattern``,
includes and namespaces) in resolution order and gives one dict a URL pattern, in the file
format of ``facade.config.endpoints`` (``dump_inventory`` writes it): the pattern as a
routes.yaml template when one can express it (``template`` null and a ``reason`` otherwise),
the methods the view implements (null: any), the view's dotted path, the namespaced name and
Django's own pattern text (what ``resolve(path).route`` gives for it).

What becomes a template:

* ``path()`` routes: ``<int:id>``, ``<str:x>``, ``<slug:x>``, ``<uuid:x>`` and registered
  converters -> ``{id}``; ``<path:x>`` (or a converter whose regex takes a ``/``) ->
  ``{x:path}``, only as the last segment. A segment that mixes text and a parameter
  (``v<int:n>``) is not expressible.
* ``re_path()`` regexes anchored with ``^`` (and ``$`` for an endpoint) made of literal text and
  named groups of one segment (``[^/]+``, ``\\d+``, ``[0-9]+``, ``[-\\w]+``, ``\\w+``, ...),
  a final ``(?P<x>.+)`` or ``(?P<x>.*)`` -> ``{x:path}``, an optional final ``/?``. Anything else
  (alternations, quantifiers, unnamed groups, unanchored regexes) is listed with its reason.

A template matches at least the paths of its pattern, never fewer (``{id}`` for ``\\d+``);
which of two patterns serves a path is the resolver's order, kept here as the file's order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import PathConverter
from django.urls.resolvers import LocalePrefixPattern, RegexPattern, RoutePattern
from django.views import View

from facade.config.matching import TemplateError, parse_template


class NotExpressible(ValueError):
    """A pattern no routes.yaml template can express; the message says why."""


@dataclass(frozen=True, slots=True)
class _Level:
    """One step of the resolver tree on the way to a URL pattern."""

    pattern: Any  # RoutePattern | RegexPattern | LocalePrefixPattern
    namespace: str | None


def inventory(urlconf: str | None = None) -> list[dict[str, Any]]:
    """Every URL pattern of ``urlconf`` (the project's ROOT_URLCONF by default), in the order
    Django's resolver tries them."""
    return [entry(chain, leaf) for chain, leaf in walk(get_resolver(urlconf).url_patterns)]


def walk(
    patterns: Sequence[URLPattern | URLResolver], chain: tuple[_Level, ...] = ()
) -> Iterator[tuple[tuple[_Level, ...], URLPattern]]:
    """Each URLPattern below ``patterns``, depth first, with the resolvers above it."""
    for item in patterns:
        if isinstance(item, URLResolver):
            level = _Level(item.pattern, item.namespace)
            yield from walk(item.url_patterns, (*chain, level))
        else:
            yield chain, item


def entry(chain: tuple[_Level, ...], leaf: URLPattern) -> dict[str, Any]:
    """One inventory entry (``facade.config.endpoints``' file format)."""
    levels = [level.pattern for level in chain] + [leaf.pattern]
    namespaces = [level.namespace for level in chain if level.namespace]
    found: dict[str, Any] = {
        "template": None,
        "methods": methods_of(leaf.callback),
        "view": view_path(leaf.callback),
        "name": ":".join([*namespaces, leaf.name]) if leaf.name else None,
        "pattern": joined_route(levels),
    }
    try:
        found["template"] = template_of(levels)
    except NotExpressible as exc:
        found["reason"] = str(exc)
    else:
        found["params"] = params_of(levels)
    return found


def params_of(levels: Sequence[Any]) -> dict[str, str]:
    """Each parameter's converter, by name: its name in a ``path()`` route (``int``; ``str``
    when none is written), the group's regex in a ``re_path()`` one (``[0-9]+``). Two patterns
    of one template shape are told apart by these (``facade.config.endpoints``)."""
    found: dict[str, str] = {}
    for level in levels:
        if isinstance(level, RoutePattern):
            for m in _ROUTE_PARAM.finditer(str(level)):
                found[m.group("name")] = m.group("converter") or "str"
        elif isinstance(level, RegexPattern):
            for m in _GROUP.finditer(str(level)):
                found[m.group("name")] = m.group("body")
    return found


def joined_route(levels: Sequence[Any]) -> str:
    """Django's text for the whole pattern, joined as ``ResolverMatch.route`` joins it."""
    route = str(levels[-1])
    for level in reversed(levels[:-1]):
        prefix = str(level)
        if prefix:
            route = prefix + route.removeprefix("^")
    return route


# ---------------------------------------------------------------- templates


def template_of(levels: Sequence[Any]) -> str:
    """The routes.yaml template for a chain of patterns; ``NotExpressible`` if none can say it."""
    text = "".join(_fragment(level, i == len(levels) - 1) for i, level in enumerate(levels))
    template = "/" + text
    try:
        parse_template(template)
    except TemplateError as exc:
        raise NotExpressible(_template_reason(template, exc)) from None
    return template


def _template_reason(template: str, exc: TemplateError) -> str:
    if ":path}" in template and "must be the last segment" in str(exc):
        return "a path converter before the end: a template takes a rest only as its last segment"
    if "use {name}" in str(exc):
        return "a segment mixes text and a parameter: a template parameter is a whole segment"
    return f"not a valid template: {exc}"


def _fragment(pattern: Any, endpoint: bool) -> str:
    if isinstance(pattern, RoutePattern):
        return _route_fragment(pattern)
    if isinstance(pattern, LocalePrefixPattern):
        raise NotExpressible("i18n_patterns: the language prefix depends on the request")
    if isinstance(pattern, RegexPattern):
        return _regex_fragment(str(pattern), endpoint)
    raise NotExpressible(f"an unknown kind of pattern ({type(pattern).__name__})")


_ROUTE_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _route_fragment(pattern: RoutePattern) -> str:
    route = str(pattern)

    def param(m: re.Match[str]) -> str:
        name = m.group("name")
        converter = pattern.converters.get(name)
        takes_slash = isinstance(converter, PathConverter) or (
            converter is not None and re.fullmatch(converter.regex, "a/b") is not None
        )
        return f"{{{name}:path}}" if takes_slash else f"{{{name}}}"

    return _ROUTE_PARAM.sub(param, route)


# named groups that match exactly one non-empty segment, or less than one
_SEGMENT_GROUPS = frozenset(
    {
        r"[^/]+",
        r"[^/.]+",
        r"\d+",
        r"[0-9]+",
        r"\w+",
        r"[-\w]+",
        r"[\w-]+",
        r"[-a-zA-Z0-9_]+",
        r"[a-zA-Z0-9_-]+",
        r"[-_a-zA-Z0-9]+",
        r"[a-z0-9-]+",
        r"[-a-z0-9]+",
        r"[a-z]+",
        r"[A-Za-z]+",
        r"[a-zA-Z]+",
        r"[0-9a-f-]+",
        r"[0-9a-fA-F-]+",
        r"[-\w.]+",
        r"[\w.-]+",
    }
)
_REST_GROUPS = frozenset({".+", ".*"})
_GROUP = re.compile(r"\(\?P<(?P<name>[A-Za-z_][A-Za-z0-9_]*)>(?P<body>[^()]*)\)")
_ESCAPED = re.compile(r"\\([^A-Za-z0-9])")
_META = frozenset(".^$*+?{}[]\\|()")


def _regex_fragment(regex: str, endpoint: bool) -> str:
    """A ``re_path`` regex as template text (literal text and ``{name}``), or NotExpressible."""
    anchored = regex.startswith("^")
    body = regex[1:] if anchored else regex
    closed = body.endswith("$") and not body.endswith("\\$")
    if closed:
        body = body[:-1]
    if not anchored:
        # searched anywhere in the path: only a lone catch-all group means "from here on"
        m = _GROUP.fullmatch(body)
        if m is None or m.group("body") not in _REST_GROUPS:
            raise NotExpressible("a regex without '^' matches anywhere in the path")
    if endpoint and not closed:
        raise NotExpressible("a regex without '$' also matches every longer path")
    if body.endswith("/?"):
        body = body[:-2]  # the template takes the path with and without its final slash
    out: list[str] = []
    at = 0
    while at < len(body):
        char = body[at]
        if body.startswith("(?P<", at):
            m = _GROUP.match(body, at)
            if m is None:
                raise NotExpressible("a regex with nested groups")
            group = m.group("body")
            last = m.end() == len(body)
            if group in _REST_GROUPS and last and closed:
                out.append(f"{{{m.group('name')}:path}}")
            elif group in _SEGMENT_GROUPS:
                out.append(f"{{{m.group('name')}}}")
            else:
                raise NotExpressible(f"a regex group ({group}) no template parameter matches")
            at = m.end()
        elif char == "\\" and (escaped := _ESCAPED.match(body, at)):
            out.append(escaped.group(1))
            at = escaped.end()
        elif char == "(":
            raise NotExpressible("a regex with an unnamed or non-capturing group")
        elif char in _META:
            raise NotExpressible(f"a regex using {char!r}: more than literal text and groups")
        else:
            out.append(char)
            at += 1
    return "".join(out)


# ---------------------------------------------------------------- views and methods


def view_path(callback: Callable[..., Any]) -> str:
    """The view's dotted path: the class of a class-based view, else the function (as
    ``functools.wraps`` left its name, so an admin view is its ModelAdmin method)."""
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        return f"{view_class.__module__}.{view_class.__qualname__}"
    name = getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None)
    if name is None:  # a callable object (functools.partial, an instance with __call__)
        cls = type(callback)
        return f"{cls.__module__}.{cls.__qualname__}"
    return f"{callback.__module__}.{name}"


def methods_of(callback: Callable[..., Any]) -> list[str] | None:
    """The methods a view answers, or None (any: a function view without a method decorator)."""
    view_class = getattr(callback, "view_class", None)
    if isinstance(view_class, type) and issubclass(view_class, View):
        initkwargs = getattr(callback, "view_initkwargs", {})
        # a viewset's as_view({"get": "list", ...}) routes methods to actions, not to handlers
        actions = getattr(callback, "actions", None)
        return _class_methods(
            view_class, initkwargs, actions if isinstance(actions, dict) else None
        )
    return _decorated_methods(callback)


def _class_methods(
    view_class: type[View], initkwargs: dict[str, Any], actions: dict[str, str] | None
) -> list[str]:
    allowed = initkwargs.get("http_method_names", view_class.http_method_names)
    found = [m for m in allowed if (actions and m in actions) or hasattr(view_class, m)]
    if "get" in found and "head" in allowed and "head" not in found:
        found.append("head")  # View.setup answers HEAD with get
    return [m.upper() for m in allowed if m in found]


_REQUIRE = "require_http_methods.<locals>.decorator.<locals>.inner"


def _decorated_methods(callback: Callable[..., Any]) -> list[str] | None:
    """The methods ``require_http_methods`` (and ``require_GET``/``_POST``/``_safe``) allow,
    found in the closures along the ``__wrapped__`` chain; nested ones intersect."""
    allowed: list[str] | None = None
    seen: set[int] = set()
    fn: Any = callback
    while fn is not None and id(fn) not in seen:
        seen.add(id(fn))
        code = getattr(fn, "__code__", None)
        if code is not None and code.co_qualname == _REQUIRE and fn.__closure__:
            cells = dict(zip(code.co_freevars, fn.__closure__, strict=True))
            given = cells["request_method_list"].cell_contents
            if not isinstance(given, list | tuple):  # a set: its order changes run to run
                given = sorted(given)
            methods = [str(m).upper() for m in given]
            allowed = methods if allowed is None else [m for m in allowed if m in methods]
        fn = getattr(fn, "__wrapped__", None)
    return allowed
