"""The canary parity check both Envoy tests share (the export, and `serve --engine envoy`):
1,000 sticky keys, each sent once, and the side that answered it read from the echo
upstream's ``server`` field."""

from __future__ import annotations

import asyncio

import aiohttp

from facade.config.bucket import in_share

PERCENTS = (10, 50, 90)
# lengths from 10 to 130 bytes: SHA-256 over one, two and three 64-byte blocks
KEYS = [f"customer-{i}-" + "k" * (i % 120) for i in range(1000)]


async def served_by(session: aiohttp.ClientSession, url: str, **headers: str) -> str:
    """The echo upstream that answered ``GET url`` (``legacy``, ``svc``, ...)."""
    async with session.get(url, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        server: str = (await answer.json())["server"]
        return server


async def sides(base: str, percent: int) -> dict[str, str]:
    """Each key's side for ``GET {base}/c{percent}/item`` with ``X-Customer-Id: key``."""
    limit = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as session:

        async def one(key: str) -> tuple[str, str]:
            async with limit:
                return key, await served_by(
                    session, f"{base}/c{percent}/item", **{"X-Customer-Id": key}
                )

        return dict(await asyncio.gather(*(one(key) for key in KEYS)))


def off_side(found: dict[str, str], capability: str, percent: int) -> list[str]:
    """The keys that landed elsewhere than the Python engine's bucket puts them."""
    return [
        key
        for key in KEYS
        if found[key] != ("svc" if in_share(capability, key, percent) else "legacy")
    ]
