"""What the supervisor asks Envoy's admin listener (always on loopback)."""

from __future__ import annotations

import aiohttp


async def is_live(session: aiohttp.ClientSession, admin_url: str) -> bool:
    """Whether Envoy says it is LIVE (its ``/ready``: initialized, listeners up)."""
    try:
        async with session.get(admin_url + "/ready") as answer:
            return answer.status == 200
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


async def prometheus(session: aiohttp.ClientSession, admin_url: str) -> str:
    """Envoy's stats as Prometheus text (for ``envoy_stats.facade_metrics``); raises
    ``aiohttp.ClientError`` or ``OSError`` when Envoy cannot be asked."""
    async with session.get(admin_url + "/stats/prometheus") as answer:
        answer.raise_for_status()
        return await answer.text()


async def route_version(session: aiohttp.ClientSession, admin_url: str) -> str | None:
    """The ``version_info`` of the routes Envoy has in force (RDS), or None when unknown:
    ``compile`` sets it to routes.yaml's sha256, so it says which file is in force."""
    try:
        async with session.get(
            admin_url + "/stats", params={"filter": r"rds\.strangler\.version_text"}
        ) as answer:
            text = await answer.text()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if name.endswith("version_text"):
            return value.strip().strip('"') or None
    return None


__all__ = ["is_live", "prometheus", "route_version"]
