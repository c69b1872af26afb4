"""The sticky bucket: one client (or customer, or sku) always falls on the same side of a share.

One definition for the facade's canary (``facade.stages.mode``) and the monolith's seams: the
same key at the same percent takes the same path in every process and every run, and raising
the percent only moves more keys over, never back.
"""

from __future__ import annotations

import hashlib


def sticky_bucket(name: str, key: str) -> float:
    """A stable number in [0, 100) for ``key`` under ``name`` (a capability or a seam).

    A salted SHA-256, not Python's ``hash()``, which is randomized per process. Hashed as the
    raw bytes the client sent: aiohttp decodes a header's non-UTF-8 bytes as surrogates
    (surrogateescape), which encode back to those bytes, as the exports' Lua hashes them.
    """
    digest = hashlib.sha256(f"{name}\x00{key}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def in_share(name: str, key: str, percent: float) -> bool:
    """Whether ``key`` falls within the first ``percent`` of ``name``'s buckets."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    return sticky_bucket(name, key) < percent
