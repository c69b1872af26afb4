"""What Django's own resolver says about a project's URLs, for the endpoint inventory's tests.

Run inside the project (``DJANGO_SETTINGS_MODULE`` set, the project importable)::

    python -m tests.support.django_urls < {"urlconf": null, "views": [...], "samples": [...]}

It walks ``get_resolver(urlconf)`` on its own (not with ``strangler_django.endpoints``) and
prints JSON: ``walk``, every URLPattern in resolution order with its route text (joined by
Django's ``URLResolver._join_route``) and namespaced name; ``views``, for each dotted path asked
about, whether it names the view of the walked pattern at the same position; ``resolved``, for
each sample path, the position of the pattern ``django.urls.resolve`` picks (found from
``ResolverMatch.tried``, the chain of pattern objects that matched) and its ``route``, or null
for a 404.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pydoc import locate
from typing import Any


def main() -> None:
    import django

    django.setup()
    from django.urls import URLPattern, URLResolver, get_resolver
    from django.urls.exceptions import Resolver404

    asked = json.load(sys.stdin)
    root = get_resolver(asked.get("urlconf"))
    join = URLResolver._join_route

    def walk(
        patterns: Sequence[Any], chain: tuple[Any, ...]
    ) -> Iterator[tuple[tuple[Any, ...], URLPattern]]:
        for item in patterns:
            if isinstance(item, URLResolver):
                yield from walk(item.url_patterns, (*chain, item))
            else:
                yield (*chain, item), item

    walked = list(walk(root.url_patterns, ()))
    position = {tuple(map(id, chain)): i for i, (chain, _) in enumerate(walked)}
    listing = []
    for chain, leaf in walked:
        route = str(leaf.pattern)
        for resolver in reversed(chain[:-1]):
            route = join(str(resolver.pattern), route)
        namespaces = [r.namespace for r in chain[:-1] if r.namespace]
        name = ":".join([*namespaces, leaf.name]) if leaf.name else None
        listing.append({"route": route, "name": name})

    views = [
        _names_view(dotted, walked[i][1].callback) if i < len(walked) else False
        for i, dotted in enumerate(asked.get("views", []))
    ]
    resolved: list[dict[str, Any] | None] = []
    for sample in asked.get("samples", []):
        try:
            match = root.resolve(sample)
        except Resolver404:
            resolved.append(None)
            continue
        chain = tuple(map(id, match.tried[-1]))
        resolved.append({"position": position.get(chain), "route": match.route})
    json.dump({"walk": listing, "views": views, "resolved": resolved}, sys.stdout)


def _names_view(dotted: str, callback: Any) -> bool:
    """``dotted`` imports as the view: its class, the callback, or a function it wraps."""
    found = locate(dotted)
    if found is None:
        return False
    if getattr(callback, "view_class", None) is found:
        return True
    fn: Any = callback
    while fn is not None:
        if getattr(fn, "__func__", fn) is found:
            return True
        fn = getattr(fn, "__wrapped__", None)
    return False


if __name__ == "__main__":
    main()
