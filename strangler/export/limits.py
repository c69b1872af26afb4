"""``strangler export ... --explain``: what a target does not do as the Python facade does.

Pure: from the config, the options and the target's name to a list of ``Limit``s, the ones
that apply to this routes.yaml only (a capability in ``legacy`` mode has no canary to
differ). docs/engines.md explains each one at length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facade.config import Config
from strangler.export import plan
from strangler.export.plan import Options, Target

Engine = Literal["envoy", "nginx"]
ENGINES: tuple[Engine, ...] = ("envoy", "nginx")


@dataclass(frozen=True, slots=True)
class Limit:
    """One thing the target expresses differently, or not at all; ``capability`` None: all."""

    capability: str | None
    feature: str
    text: str

    def __str__(self) -> str:
        return f"{self.capability or '*'}: {self.feature}: {self.text}"


def _general(engine: Engine, config: Config, options: Options) -> list[Limit]:
    routes = config.routes
    found = [
        Limit(
            None,
            "reload",
            "a change to routes.yaml is in force only after exporting again and reloading "
            f"{engine}" + (" (hot restart)" if engine == "envoy" else " (nginx -s reload)"),
        ),
        Limit(
            None,
            "paths",
            "dot segments above the root are dropped (/../x is served as /x), a raw backslash "
            "is a slash and '..;' is '..': resolved, routed and forwarded as one path, not "
            "refused with 400"
            if engine == "envoy"
            else "'%3F' and '%23' in a path answer 400 (nginx would forward them decoded)",
        ),
    ]
    if engine == "nginx":
        # Envoy's export answers problem+json (local_reply_config) and rewrites Location
        # (the edge Lua filter) as the facade does
        found[:0] = [
            Limit(
                None,
                "errors",
                f"failures answer {engine}'s own error bodies, not application/problem+json",
            ),
            Limit(
                None,
                "Location",
                "an upstream's Location header is passed on unchanged (the facade rewrites it "
                "to the public origin)",
            ),
        ]
    if engine == "envoy":
        found.append(
            Limit(
                None,
                "bodies",
                "a request body is held in memory up to its limit (the buffer filter), where "
                f"the facade spools it to disk past limits.body_buffer "
                f"({routes.limits.body_buffer:,} bytes)",
            )
        )
        found.append(
            Limit(
                None,
                "/readyz, /metrics",
                "answer 404: Envoy's own readiness is /ready and its Prometheus stats "
                f"/stats/prometheus on the admin listener 127.0.0.1:{options.admin_port}; "
                "no traceparent is added",
            )
        )
    else:
        found += [
            Limit(
                None,
                "/readyz, /metrics",
                "answer 404: nginx has no readiness or metrics of its own here",
            ),
            Limit(
                None,
                "X-Strangler-*",
                "nginx cannot drop a header prefix: only the facade's known X-Strangler-* "
                "headers are removed",
            ),
            Limit(
                None,
                "Connection",
                "headers named in the client's Connection header are not dropped (Connection "
                "itself and the standard hop-by-hop headers are)",
            ),
            Limit(
                None,
                "underscores",
                "header names with '_' are dropped silently (Envoy and the facade answer 400)",
            ),
        ]
        if routes.forwarded.trusted_hops:
            found.append(
                Limit(
                    None,
                    "forwarded",
                    "X-Forwarded-For is the incoming one with the peer appended "
                    "($proxy_add_x_forwarded_for): nginx cannot keep exactly "
                    f"{routes.forwarded.trusted_hops} trusted hops",
                )
            )
    if routes.forwarded.trusted_hops:
        found.append(
            Limit(
                None,
                "X-Forwarded-Host",
                "the Host the proxy received, never a trusted proxy's X-Forwarded-Host (the "
                "facade takes that one behind trusted hops)",
            )
        )
    if routes.limits.dot_segments == "reject":
        found.append(
            Limit(
                None,
                "dot segments",
                f"limits.dot_segments: reject is not expressed: {engine} resolves them",
            )
        )
    if routes.debug_headers:
        found.append(
            Limit(None, "debug_headers", "no X-Strangler-Route header is added to responses")
        )
    return found


def _capability(engine: Engine, config: Config, target: Target, options: Options) -> list[Limit]:
    name, cap = target.name, target.capability
    found: list[Limit] = []

    def say(feature: str, text: str) -> None:
        found.append(Limit(name, feature, text))

    if target.kind == "legacy" and cap.service is not None:
        # nothing differs today; say what will once the capability moves on
        if cap.translator is not None:
            say(
                "translator",
                f"mode legacy for now; once it leaves legacy its requests need a Python "
                f"facade (--facade-url): {engine} cannot translate ({cap.translator})",
            )
        if engine == "nginx":
            say(
                "canary",
                "mode legacy for now; as a canary, nginx's split_clients (MurmurHash2) puts a "
                "key on another side than the Python engine would",
            )
        return found
    if target.kind == "facade":
        say(
            "translator",
            f"{engine} cannot translate ({cap.translator}): every request of the capability "
            f"goes to the Python facade at {options.facade_url}, which applies mode "
            f"{cap.mode!r} itself",
        )
        return found
    if target.kind == "shadow":
        if options.compare_url is None:
            say(
                "shadow",
                "no --compare-url: the monolith answers and nothing is mirrored or compared "
                "(the compare service, `strangler compare-service`, is what the mirror targets)",
            )
        else:
            if "percent" not in cap.shadow.model_fields_set:
                say(
                    "shadow.percent",
                    f"not set: {plan.DEFAULT_MIRROR_PERCENT:g}% is mirrored here (the Python "
                    "engine shadows 100% by default)",
                )
            say(
                "compare",
                "the compare service makes the comparison, the noise learning (the twin call "
                "to the monolith) and the recording: each mirrored request costs one more "
                "monolith call, as the mirrored answer is discarded",
            )
            if engine == "nginx" and cap.shadow.timeout is not None:
                say("shadow.timeout", "applies to the mirror's wait for the compare service")
    if target.kind == "canary":
        if engine == "nginx":
            say(
                "canary",
                "split_clients hashes with MurmurHash2, not the Python engine's SHA-256 "
                "bucket: a key's side differs between the engines, so switching engines "
                "moves keys"
                + (
                    f"; {cap.canary.percent:g}% is rounded to 0.01%"
                    if round(cap.canary.percent, 2) != cap.canary.percent
                    else ""
                ),
            )
        if cap.canary.sticky.startswith("cookie:"):
            say(
                "canary.sticky",
                "the cookie's value is the raw text between '=' and ';', surrounding quotes "
                "removed: a quoted value with escapes or a value with spaces is parsed "
                "otherwise by the Python engine (aiohttp's request.cookies), so that key can "
                "land on another side; of repeated cookies both take the last",
            )
        elif cap.canary.sticky.startswith("header:") and engine == "nginx":
            say(
                "canary.sticky",
                "from nginx 1.23 on a repeated header is one key joined with ', ' (before, "
                "the first value); the Python engine takes the first value, so with nginx "
                "1.23+ that key can land on another side",
            )
        if cap.canary.sticky == "client_ip":
            say(
                "canary.sticky",
                "client_ip is the direct peer's address, as in the Python engine: behind a "
                "load balancer every client shares one side",
            )
    if target.kind in ("canary", "extracted"):
        found += _resilience(engine, config, target)
    return found


def _resilience(engine: Engine, config: Config, target: Target) -> list[Limit]:
    name, cap = target.name, target.capability
    found = []
    if engine == "envoy":
        found.append(
            Limit(
                name,
                "retries",
                "PUT and DELETE are not retried while writes may still move to the monolith "
                "(the Python engine retries them on 502-504); unsafe methods fall back to "
                "the monolith only on a connect failure; reads are retried on any 5xx, 500 "
                "included (the Python engine retries 502-504)"
                if cap.unsafe_falls_back
                else "reads are retried on any 5xx, 500 included (the Python engine retries "
                "502-504); PUT and DELETE on 502-504, resets and connect failures, as the "
                "Python engine",
            )
        )
        if cap.fallback == "legacy":
            found.append(
                Limit(
                    name,
                    "fallback",
                    "the monolith is the composite cluster's last attempt: a retry, so it "
                    "counts against the service's retry budget (when it has retries), and a "
                    "full bulkhead (circuit_breakers.max_requests) answers 503 at once "
                    "instead of falling back; Envoy marks the composite cluster extension "
                    "as not hardened against untrusted downstreams",
                )
            )
            service = config.routes.services[target.service]
            legacy = config.routes.legacy.timeout
            if legacy > service.timeout:
                found.append(
                    Limit(
                        name,
                        "fallback timeout",
                        f"Envoy has one per_try_timeout per route: the monolith's attempt is "
                        f"cut at the service's timeout ({service.timeout:g}s), not at "
                        f"legacy.timeout ({legacy:g}s), so a monolith slower than "
                        f"{service.timeout:g}s answers 504 where the facade waits "
                        f"{legacy:g}s for it",
                    )
                )
        found.append(
            Limit(
                name,
                "circuit_breaker",
                "outlier detection ejects the service for open_for once its failure share "
                "over 5 s crosses failure_rate (the facade uses a sliding window of calls); "
                "no half-open probe count",
            )
        )
    else:
        found.append(
            Limit(
                name,
                "retries",
                "nginx retries by listing the service's server retries + 1 times: no backoff "
                "and no retry budget; the monolith as backup server gets the service's "
                "timeouts; PUT and DELETE may move to the monolith after the service saw "
                "them (nginx takes them as idempotent)",
            )
        )
        found.append(
            Limit(
                name,
                "circuit_breaker",
                "max_fails failures within fail_timeout (open_for) mark the service down: "
                "a count, not a failure rate; the bulkhead is max_conns, shared by the listed "
                "copies of the server",
            )
        )
        if cap.max_body is not None:
            found.append(
                Limit(name, "max_body", "not per capability in nginx: limits.max_body applies")
            )
        found.append(
            Limit(name, "deadline", "no overall deadline: each attempt has the service's timeout")
        )
    return found


def explain(engine: Engine, config: Config, options: Options) -> list[Limit]:
    """Every limit of ``engine`` for this routes.yaml (ExportError if it cannot be expressed)."""
    targets = plan.targets(config, options)
    found = _general(engine, config, options)
    for target in targets.values():
        found += _capability(engine, config, target, options)
    return found
