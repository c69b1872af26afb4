"""routes.yaml's ``translator:`` names, checked when the file is loaded (validate, serve,
reload), so a typo is a ``PATH:LINE`` error, not a 502 at the first request."""

from __future__ import annotations

from collections.abc import Iterator

from acl.errors import TranslatorNotFound
from acl.registry import load_translator
from facade.config import Location, RoutesFile


def translator_problems(routes: RoutesFile) -> Iterator[tuple[Location, str]]:
    for name, capability in routes.capabilities.items():
        if capability.translator is None:
            continue
        try:
            load_translator(capability.translator)
        except TranslatorNotFound as exc:
            yield ("capabilities", name, "translator"), f"{capability.translator!r}: {exc.reason}"
