"""Deterministic pseudo-random payloads for download tests (same size+seed, same bytes)."""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Iterator

BLOB_CHUNK_SIZE = 64 * 1024


def blob_chunks(size: int, seed: int, chunk_size: int = BLOB_CHUNK_SIZE) -> Iterator[bytes]:
    rng = random.Random(seed)
    remaining = size
    while remaining > 0:
        step = min(chunk_size, remaining)
        yield rng.randbytes(step)
        remaining -= step


@functools.lru_cache(maxsize=64)
def blob_sha256(size: int, seed: int) -> str:
    # The header must be sent before the body, so the payload is generated twice; caching
    # the digest makes repeated downloads of the same blob pay that only once.
    digest = hashlib.sha256()
    for chunk in blob_chunks(size, seed):
        digest.update(chunk)
    return digest.hexdigest()
