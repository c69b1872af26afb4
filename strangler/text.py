"""Wording shared by the operator's outputs (plan, retire, the migration map): one definition
of how a moment, a set of methods and an endpoint's owners read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime


def when(moment: datetime | None, *, missing: str = "-") -> str:
    """A moment to the minute, in UTC: ``2026-12-03 12:00 UTC`` (``missing`` for None)."""
    return missing if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def methods(found: Iterable[str] | None, *, sep: str = ",", any_method: str = "*") -> str:
    """Methods sorted and joined (``GET,HEAD``); ``any_method`` for None (any method)."""
    return any_method if found is None else sep.join(sorted(found))


def owners(
    capabilities: Sequence[str],
    *,
    partial: bool,
    describe: Callable[[str], str],
    modes: Mapping[str, str] | None = None,
) -> str:
    """Who owns an endpoint: ``monolith``; ``cap (MODE)``; or several, or one in part
    (``partial: a (shadow), b (extracted)``: the rest of it is the monolith's). ``describe``
    says a capability's mode (``modes`` names it for one ``describe`` cannot: ``?`` else)."""
    if not capabilities:
        return "monolith"
    shown = ", ".join(f"{c} ({_mode(c, describe, modes or {})})" for c in capabilities)
    return f"partial: {shown}" if partial else shown


def _mode(capability: str, describe: Callable[[str], str], modes: Mapping[str, str]) -> str:
    try:
        return describe(capability)
    except KeyError:
        return modes.get(capability, "?")
