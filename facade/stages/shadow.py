"""Hand a relayed request to the shadow runner: the capability's service gets it in the
background, and both answers are compared off the request path.

The last step: the client's answer is made already (``ex.response``), the monolith's kept
(``ex.legacy_answer``) by the forward step. A service that served traffic finds failing or
busy (open breaker, full bulkhead) is not asked: the copy is dropped, and counted.
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

from facade.errors import UpstreamError
from facade.exchange import Exchange
from facade.shadow import ShadowJob
from facade.state import LEGACY
from facade.translate import translator_for
from parallel_run.compare import HttpAnswer


async def stage(ex: Exchange) -> web.StreamResponse | None:
    legacy = ex.legacy_answer
    if ex.shadow and legacy is not None and ex.headers is not None:
        shadow_call(ex, ex.headers, ex.body, legacy, ex.legacy_ms)
    return None


def shadow_call(
    ex: Exchange,
    headers: CIMultiDict[str],
    body: object,
    legacy: HttpAnswer,
    legacy_ms: float,
) -> None:
    """Offer the shadow runner this request (``ex.shadow``: the mode step chose to)."""
    cap, match = ex.capability, ex.match
    if cap is None or match is None or cap.service is None or ex.target is None:
        return
    runner = ex.state.shadow
    guard = ex.state.guard(ex.config, cap.service)
    if guard.breaker.is_open() or guard.bulkhead.full:
        # served traffic (another capability on the same service) found it failing or busy:
        # a shadow call would only add load; shadow calls never move the breaker themselves
        reason = "circuit_open" if guard.breaker.is_open() else "bulkhead_full"
        ex.state.metrics.shadow_dropped.labels(match.route.capability, reason).inc()
        return
    translator = None
    if cap.translator is not None:
        try:
            translator = translator_for(cap.translator, upstream=cap.service)
        except UpstreamError:
            # a translator that cannot load costs this comparison, never the client's answer
            ex.state.metrics.shadow_dropped.labels(match.route.capability, "translator").inc()
            return
    service = ex.config.routes.services[cap.service]
    runner.offer(
        ShadowJob(
            capability=match.route.capability,
            route=match.route.template,
            method=ex.request.method,
            target=ex.target,
            headers=headers,
            body=body if isinstance(body, bytes) else None,
            legacy=legacy,
            legacy_ms=legacy_ms,
            candidate=ex.state.client(ex.config, cap.service),
            timeout=cap.shadow.timeout or service.timeout,
            legacy_client=ex.state.client(ex.config, LEGACY),
            twin_fraction=cap.compare.noise_sample / 100 if cap.compare.noise == "auto" else 0.0,
            learn_noise=cap.compare.noise == "auto",
            config=ex.config,
            translator=translator,
        )
    )
