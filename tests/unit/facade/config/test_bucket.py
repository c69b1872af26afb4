"""The sticky canary: the set share of keys, each key always on the same side, and raising
the percent only ever moves keys from the monolith to the service."""

from __future__ import annotations

import hashlib

import pytest

from facade.config.bucket import in_share as in_canary
from facade.config.bucket import sticky_bucket

KEYS = [f"customer-{i}" for i in range(1000)]


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 90])
def test_the_share_of_1000_keys_is_within_5_points_of_the_percent(percent: float) -> None:
    share = sum(in_canary("product-catalog", key, percent) for key in KEYS) / len(KEYS) * 100
    assert abs(share - percent) <= 5


def test_each_key_lands_on_the_same_side_every_time() -> None:
    first = [in_canary("product-catalog", key, 30) for key in KEYS]
    assert all([in_canary("product-catalog", key, 30) for key in KEYS] == first for _ in range(3))


def test_raising_the_percent_only_moves_keys_from_legacy_to_the_service() -> None:
    previous = {key for key in KEYS if in_canary("orders", key, 0)}
    assert previous == set()
    for percent in range(1, 101):
        now = {key for key in KEYS if in_canary("orders", key, percent)}
        assert previous <= now, f"a key flipped back at {percent}%"
        previous = now
    assert previous == set(KEYS)


def test_the_hash_is_salted_per_capability() -> None:
    a = {key for key in KEYS if in_canary("orders", key, 50)}
    b = {key for key in KEYS if in_canary("product-catalog", key, 50)}
    assert a != b  # the same early adopters do not get every canary at once


def bucket_of(raw: bytes) -> float:
    digest = hashlib.sha256(raw).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def test_a_key_is_hashed_as_the_raw_bytes_the_client_sent() -> None:
    # aiohttp decodes a header's byte \xe9 (not UTF-8) as '\udce9': the bytes Lua hashes
    assert sticky_bucket("orders", "caf\udce9") == bucket_of(b"orders\x00caf\xe9")
    # ASCII and UTF-8 keys hash as before
    assert sticky_bucket("orders", "customer-1") == bucket_of(b"orders\x00customer-1")
    assert sticky_bucket("orders", "café") == bucket_of("orders\x00café".encode())
