"""aiohttp's pool with ``CleanConnector``, against the raw-socket stand-in (SECURITY.md U1, U3).

These pin the hooks into aiohttp's private connector and protocol: an aiohttp upgrade that
changes them fails here first, with a clearer message than the integration tests'.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from facade.clean_connections import CleanConnector
from facade.upstream import valid_status
from tests.support.stray_upstream import STRAY_KINDS, StrayUpstream, serving


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[StrayUpstream, str]]:
    stand_in = StrayUpstream()
    async with serving(stand_in) as base:
        yield stand_in, base


def session(sock_read: float = 5.0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=CleanConnector(), timeout=aiohttp.ClientTimeout(sock_read=sock_read)
    )


async def test_a_clean_connection_is_still_reused(upstream: tuple[StrayUpstream, str]) -> None:
    stand_in, base = upstream
    async with session() as client:
        for user in ("alice", "bob", "carol", "dave"):
            async with client.get(f"{base}/x/plain/{user}") as answer:
                assert await answer.read() == f"answer for {user}".encode()
    assert stand_in.connections == 1


@pytest.mark.parametrize(("kind", "method"), STRAY_KINDS)
async def test_u1_stray_bytes_close_the_connection_so_each_caller_gets_their_own_answer(
    upstream: tuple[StrayUpstream, str], kind: str, method: str
) -> None:
    stand_in, base = upstream
    async with session() as client:
        for user in ("alice", "bob", "carol"):
            before = stand_in.strays
            async with client.request(method, f"{base}/x/{kind}/{user}") as answer:
                assert answer.headers["X-Answer-For"] == user
                assert b"POISONED" not in await answer.read()
            assert await stand_in.wait_for_strays(above=before) > before
    assert stand_in.connections == 3  # one per answer: none was reused


async def test_u1_bytes_on_an_idle_connection_close_it_at_once(
    upstream: tuple[StrayUpstream, str],
) -> None:
    stand_in, base = upstream
    async with session() as client:
        async with client.get(f"{base}/x/idle/alice") as answer:
            await answer.read()
        await stand_in.wait_for_strays(above=0)
        # no other request was made: the stray bytes alone closed the connection
        async with asyncio.timeout(5):
            await stand_in.hung_up.wait()


async def test_u3_the_read_timeout_applies_after_a_100_continue(
    upstream: tuple[StrayUpstream, str],
) -> None:
    _, base = upstream
    async with session(sock_read=0.3) as client:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            async with client.get(f"{base}/x/continue/alice") as answer:
                await answer.read()
        assert asyncio.get_running_loop().time() - started < 3.0


@pytest.mark.parametrize(
    ("status", "upgrade", "valid"),
    [
        (200, False, True),
        (599, False, True),
        (204, False, True),
        (99, False, False),
        (600, False, False),
        (0, False, False),
        (101, False, False),
        (101, True, True),
        (199, False, False),  # aiohttp passes on only final answers; a 1xx here is odd
    ],
)
def test_u2_valid_statuses(status: int, upgrade: bool, valid: bool) -> None:
    assert valid_status(status, upgrade_asked=upgrade) is valid
