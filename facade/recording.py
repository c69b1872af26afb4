"""``strangler serve --record FILE --sample PERCENT``: live traffic sampled into a flow file.

Called once per request after its answer is complete, on the event loop, so it only decides
and copies: a sampled exchange goes to ``parallel_run.flowfile.FlowSink``, whose thread
redacts it (the store's redaction rules of the configuration the request was served under, so
a reload that adds a field to ``store.redact_fields`` covers the next sample) and appends it to
the file in mitmproxy's format.
A full queue or a failing disk costs samples, counted, never a slower request.

Not sampled, and counted apart: answers the facade gave itself (``/healthz``, rejections);
requests with a body (read whole for the upstream, but freed, or its temporary file closed,
when the request ends: the sampler never holds it); answers that streamed
(larger than the forward stage's one-write size, or of unknown length), whose body was never
held whole.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from pathlib import Path

from aiohttp import web

from facade.config import Config
from facade.config.derived import PerConfig
from facade.config.evidence import redactor_for
from facade.exchange import Exchange
from facade.shadow import MAX_SHADOW_BODY
from parallel_run.flowfile import FlowSink
from parallel_run.traffic import RecordedExchange, RecordedResponse

log = logging.getLogger("strangler.record")


class Sampler:
    """One facade process's share of ``--record``: decide, copy, hand to the writer."""

    def __init__(self, path: Path, *, percent: float, config: Config) -> None:
        if not 0 < percent <= 100:
            raise ValueError(f"--sample must be within (0, 100], not {percent!r}")
        self.path = path
        self.percent = percent
        self._sink = FlowSink(path, redactor=redactor_for(config))
        self._redactors = PerConfig(redactor_for)  # built once per configuration, not per sample
        self._rng = random.Random()
        self.skipped: Counter[str] = Counter()

    def observe(self, ex: Exchange, response: web.StreamResponse) -> None:
        """Sample this finished exchange (or not). Never raises, never blocks."""
        if self._rng.random() * 100 >= self.percent:
            return
        request = ex.request
        if ex.answered_locally or ex.target is None:
            self.skipped["local"] += 1
            return
        if request.body_exists:
            self.skipped["request_body"] += 1
            return
        body = response.body if isinstance(response, web.Response) else None
        if not isinstance(body, bytes):
            self.skipped["streamed"] += 1
            return
        if len(body) > MAX_SHADOW_BODY:  # the largest body the facade keeps a copy of
            self.skipped["too_large"] += 1
            return
        host = request.host.rpartition(":")[0] or request.host
        self._sink.offer(
            RecordedExchange(
                method=request.method,
                target=ex.target.path_qs,
                headers=tuple(request.headers.items()),
                response=RecordedResponse(
                    status=response.status,
                    headers=tuple(response.headers.items()),
                    body=body,
                    reason=response.reason,
                ),
                scheme=request.scheme,
                host=host,
                port=request.url.port or 80,
            ),
            redactor=self._redactors.get(ex.config),
        )

    def close(self) -> None:
        self._sink.close()
        stats = self._sink.stats()
        log.info(
            "record: %d flows written to %s, %d dropped, %d failed; not sampled: %s",
            stats.written,
            self.path,
            stats.dropped,
            stats.failed,
            dict(self.skipped) or "none",
        )
