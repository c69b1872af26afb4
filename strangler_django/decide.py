"""Which implementation one call takes: pure, so every rule is a table test.

``percent`` is the share of calls that take the seam's ``implementation`` when it is ``new``
or ``experiment`` (the others run legacy alone); omitted, it is 100. With ``sticky: <key>``
the share is drawn from a hash of that key's value (the customer, the sku), so one customer
always takes the same path at a given percent, and raising the percent only moves more
customers over, never back. Without ``sticky`` (or when the call has no such key) each call
draws at random.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from facade.config import Seam
from facade.config.bucket import sticky_bucket

Choice = Literal["legacy", "new", "experiment"]


def choose(
    name: str, seam: Seam | None, *, keys: Mapping[str, str], draw: Callable[[], float]
) -> Choice:
    """The implementation for one call of seam ``name``; ``draw()`` gives [0, 1)."""
    if seam is None or seam.implementation == "legacy" or seam.service is None:
        return "legacy"
    if seam.percent >= 100:
        return seam.implementation
    if seam.percent <= 0:
        return "legacy"
    if seam.sticky is not None and seam.sticky in keys:
        bucket = sticky_bucket(name, keys[seam.sticky])
    else:
        bucket = draw() * 100
    return seam.implementation if bucket < seam.percent else "legacy"
