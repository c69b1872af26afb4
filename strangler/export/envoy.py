"""routes.yaml compiled into a static Envoy bootstrap (``envoy.yaml``): a pure function.

What maps to what (docs/engines.md has the whole table):

- every ``match:`` entry is a route (``safe_regex`` on the normalized path, ``:method`` on a
  header matcher), in the matcher's order (``plan.rules``); anything else goes to ``legacy``;
- ``extracted``: the service, through a *composite* cluster that sends attempt n of a request
  to the n-th cluster of its list: the service for the first ``retries + 1`` attempts, then
  the monolith (``fallback: legacy``), and that skips a service with no host left (ejected by
  outlier detection: the open circuit) within the same attempt. Safe methods retry on 5xx,
  resets and timeouts; unsafe ones only on connect failures (the service never got them),
  and only where ``unsafe_falls_back`` allows the monolith to take them;
- ``canary``: the Lua filter (``canary.lua``) computes the facade's own sticky bucket
  (salted SHA-256) and marks the request; the router then picks the service's route or the
  monolith's;
- ``shadow``: the monolith answers; ``request_mirror_policies`` sends a sample to the compare
  service (``--compare-url``);
- a translator: the whole capability goes to a Python facade (``--facade-url``).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from importlib import resources
from typing import Any

from yarl import URL

from facade.config import Config, Service
from facade.config.evidence import redactor_for
from facade.headers import NEVER_FORWARDED
from facade.metrics import LATENCY_BUCKETS
from strangler.export import plan
from strangler.export.plan import ExportError, Options, Rule, Target

LUA_FILTER = "envoy.filters.http.lua"
EDGE_FILTER = "strangler.edge"
SIDE_HEADER = "x-strangler-side"
# the client's origin, from the router to the edge filter on an answer (never sent on)
ORIGIN_HEADER = "x-strangler-origin"
# the client's address, for serve --engine envoy's admin process (facade.admin.admin_allowed)
CLIENT_ADDRESS_HEADER = "x-strangler-client-address"
_API = "type.googleapis.com/envoy."
_HCM = _API + "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
# what the facade never forwards (facade.headers), but for what Envoy handles itself: the
# connection-specific and framing headers it strips, and X-Forwarded-For/-Proto it writes
# (the client's X-Forwarded-For is dropped at the edge only: _early_mutation)
_ENVOY_HANDLES = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "x-forwarded-for",
        "x-forwarded-proto",
    }
)
_DROPPED = tuple(sorted(NEVER_FORWARDED - _ENVOY_HANDLES))
_SAFE_RETRY_ON = "5xx,reset,connect-failure,refused-stream"
_UNSAFE_RETRY_ON = "connect-failure,refused-stream"


def canary_lua() -> str:
    """The Lua source of the canary split (``canary.lua`` beside this module)."""
    return resources.files("strangler.export").joinpath("canary.lua").read_text("utf-8")


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s" if seconds else "0s"


def _cluster_name(kind: str, name: str = "") -> str:
    return f"{kind}.{name}" if name else kind


def _endpoint_cluster(
    name: str, url: str, *, connect_timeout: float, max_connections: int
) -> dict[str, Any]:
    where = plan.host_port(url)
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STRICT_DNS",
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": _duration(connect_timeout),
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": where.host,
                                        "port_value": where.port,
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
        "circuit_breakers": {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    "max_connections": max_connections,
                    "max_pending_requests": max_connections,
                    "max_requests": max_connections,
                }
            ]
        },
    }
    if where.scheme == "https":
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": _API + "extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": where.host,
            },
        }
    return cluster


def _service_cluster(name: str, service: Service) -> dict[str, Any]:
    cluster = _endpoint_cluster(
        _cluster_name("service", name),
        service.url,
        connect_timeout=service.connect_timeout,
        max_connections=service.max_concurrency,
    )
    breaker = service.circuit_breaker
    # the facade's breaker opens at failure_rate over min_calls for open_for: Envoy ejects a
    # host whose share of failures crosses the same line, for the same time
    cluster["outlier_detection"] = {
        "consecutive_5xx": max(breaker.min_calls, 5),
        "failure_percentage_threshold": round(breaker.failure_rate * 100),
        "failure_percentage_request_volume": breaker.min_calls,
        "failure_percentage_minimum_hosts": 1,
        "enforcing_failure_percentage": 100,
        "interval": "5s",
        "base_ejection_time": _duration(breaker.open_for),
        "max_ejection_time": _duration(breaker.open_for),
        "max_ejection_percent": 100,
    }
    return cluster


def _composite(name: str, members: list[str], *, budget: float) -> dict[str, Any]:
    return {
        "name": name,
        "connect_timeout": "1s",
        "lb_policy": "CLUSTER_PROVIDED",
        "cluster_type": {
            "name": "envoy.clusters.composite",
            "typed_config": {
                "@type": _API + "extensions.clusters.composite.v3.ClusterConfig",
                "clusters": [{"name": member} for member in members],
            },
        },
        "circuit_breakers": {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    "retry_budget": {
                        "budget_percent": {"value": round(budget * 100, 3)},
                        "min_retry_concurrency": 3,
                    },
                }
            ]
        },
    }


def clusters(config: Config, options: Options, used: set[str]) -> list[dict[str, Any]]:
    """The legacy cluster, each service's, their fallback composites, and the helpers."""
    legacy = config.routes.legacy
    found = [
        _endpoint_cluster(
            "legacy",
            legacy.url,
            connect_timeout=legacy.connect_timeout,
            max_connections=legacy.max_connections,
        )
    ]
    for name, service in sorted(config.routes.services.items()):
        found.append(_service_cluster(name, service))
        member = _cluster_name("service", name)
        # the fallback is a retry in Envoy: with no retries of its own, nothing limits it
        budget = service.retry_budget if service.retries else 1.0
        safe = _cluster_name("fallback", name)
        if safe in used:
            found.append(
                _composite(safe, [member] * (service.retries + 1) + ["legacy"], budget=budget)
            )
        unsafe = _cluster_name("fallback-unsafe", name)
        if unsafe in used:
            found.append(_composite(unsafe, [member, "legacy"], budget=1.0))
    helpers = (
        ("facade", options.facade_url),
        ("compare", options.compare_url),
        ("admin", options.admin_url),
    )
    for helper, url in helpers:
        if url is not None and helper in used:
            found.append(_endpoint_cluster(helper, url, connect_timeout=1.0, max_connections=1024))
    return found


def _match(
    rule: Rule, *, side: str | None = None, methods: tuple[str, ...] | None = None
) -> dict[str, Any]:
    match: dict[str, Any] = {"safe_regex": {"regex": plan.path_regex(rule.template)}}
    headers = []
    methods = methods or plan.rule_methods(rule)
    if methods is not None:
        # one method is an exact match: a regex per route walked costs Envoy several µs a
        # request (docs/benchmarks.md, issue 16); a method is a case-sensitive token either way
        method_match: dict[str, Any] = (
            {"exact": methods[0]}
            if len(methods) == 1
            else {"safe_regex": {"regex": "^(" + "|".join(methods) + ")$"}}
        )
        headers.append({"name": ":method", "string_match": method_match})
    if side is not None:
        headers.append({"name": SIDE_HEADER, "string_match": {"exact": side}})
    if headers:
        match["headers"] = headers
    return match


def _legacy_action(config: Config) -> dict[str, Any]:
    return {"cluster": "legacy", "timeout": _duration(config.routes.legacy.timeout)}


def _retries(service: Service, retries: int) -> dict[str, Any]:
    return {
        "retry_on": _SAFE_RETRY_ON,
        "num_retries": retries,
        "per_try_timeout": _duration(service.timeout),
        "retry_back_off": {
            "base_interval": _duration(service.backoff),
            "max_interval": _duration(service.backoff * 10),
        },
    }


def _service_action(config: Config, target: Target, group: str, used: set[str]) -> dict[str, Any]:
    service = config.routes.services[target.service]
    attempts = service.retries + 1
    deadline = service.deadline or service.timeout * attempts
    fallback = plan.falls_back(target, "safe" if group == "safe" else "unsafe")
    action: dict[str, Any] = {
        "timeout": _duration(deadline + (config.routes.legacy.timeout if fallback else 0))
    }
    if group == "safe":
        if fallback:
            action["cluster"] = _cluster_name("fallback", target.service)
            retries = attempts
        else:
            action["cluster"] = _cluster_name("service", target.service)
            retries = service.retries
        if retries:
            action["retry_policy"] = _retries(service, retries)
    elif fallback:
        action["cluster"] = _cluster_name("fallback-unsafe", target.service)
        action["retry_policy"] = {
            "retry_on": _UNSAFE_RETRY_ON,
            "num_retries": 1,
            "per_try_timeout": _duration(service.timeout),
        }
    else:
        action["cluster"] = _cluster_name("service", target.service)
        action["timeout"] = _duration(service.timeout)
    used.add(action["cluster"])
    return action


def _body_limit(config: Config, target: Target) -> dict[str, Any]:
    if target.capability.max_body is None:
        return {}
    return {
        "typed_per_filter_config": {
            "envoy.filters.http.buffer": {
                "@type": _API + "extensions.filters.http.buffer.v3.BufferPerRoute",
                "buffer": {"max_request_bytes": config.max_body(target.capability)},
            }
        }
    }


def _routes_of(config: Config, rule: Rule, target: Target, used: set[str]) -> list[dict[str, Any]]:
    name = f"{rule.capability} {rule.template} {rule.group}"
    extra = _body_limit(config, target)
    if target.kind == "legacy":
        return [{"name": name, "match": _match(rule), "route": _legacy_action(config), **extra}]
    if target.kind == "facade":
        used.add("facade")
        return [
            {
                "name": name,
                "match": _match(rule),
                "route": {"cluster": "facade", "timeout": "0s"},
                **extra,
            }
        ]
    if target.kind == "extracted":
        return _service_routes(config, rule, target, used, name=name, extra=extra)
    if target.kind == "shadow":
        action = _legacy_action(config)
        if plan.mirrors(target, rule.group):
            used.add("compare")
            action["request_mirror_policies"] = [
                {
                    "cluster": "compare",
                    "runtime_fraction": {
                        "default_value": {
                            "numerator": round(target.mirror_percent * 100),
                            "denominator": "TEN_THOUSAND",
                        },
                        "runtime_key": f"strangler.mirror.{rule.capability}",
                    },
                    "disable_shadow_host_suffix_append": True,
                }
            ]
        return [{"name": name, "match": _match(rule), "route": action, **extra}]
    # canary: the service's side first (it needs the mark the Lua filter sets), then the
    # monolith's, which carries the capability's split for the Lua filter to compute
    canary = target.capability.canary
    return [
        *_service_routes(
            config, rule, target, used, name=f"{name} service", extra=extra, side="service"
        ),
        {
            "name": f"{name} legacy",
            "match": _match(rule),
            "route": _legacy_action(config),
            "metadata": {
                "filter_metadata": {
                    LUA_FILTER: {
                        "canary": {
                            "capability": rule.capability,
                            "percent": repr(canary.percent),
                            "sticky": canary.sticky,
                        }
                    }
                }
            },
            **extra,
        },
    ]


def _service_routes(
    config: Config,
    rule: Rule,
    target: Target,
    used: set[str],
    *,
    name: str,
    extra: dict[str, Any],
    side: str | None = None,
) -> list[dict[str, Any]]:
    """The route to the service; first, where writes cannot fall back, one retrying PUT
    and DELETE (idempotent: the facade retries them too) on the service itself."""
    routes = []
    service = config.routes.services[target.service]
    if rule.group == "unsafe" and service.retries and not plan.falls_back(target, "unsafe"):
        methods = tuple(
            m for m in plan.IDEMPOTENT_UNSAFE if rule.methods is None or m in rule.methods
        )
        if methods:
            action = _service_action(config, target, "unsafe", used)
            deadline = service.deadline or service.timeout * (service.retries + 1)
            action["timeout"] = _duration(deadline)
            # 502, 503, 504 as the facade (a 500 is the service's answer, not retried)
            action["retry_policy"] = {
                **_retries(service, service.retries),
                "retry_on": "gateway-error,reset,connect-failure,refused-stream",
            }
            routes.append(
                {
                    "name": f"{name} idempotent",
                    "match": _match(rule, side=side, methods=methods),
                    "route": action,
                    **extra,
                }
            )
    routes.append(
        {
            "name": name,
            "match": _match(rule, side=side),
            "route": _service_action(config, target, rule.group, used),
            **extra,
        }
    )
    return routes


_REJECTED_PATHS = (
    # (regex on the path, a character every path it matches holds, why): Envoy tests a route's
    # header matchers before its path, so a ":path contains" of that character spares the
    # regex on almost every request (docs/benchmarks.md, issue 16)
    # a dot segment with path parameters ("%2e%2e;") that normalize_path leaves (it
    # resolves "..;" spelled out): the facade refuses both (SECURITY.md P7)
    ("(?i).*/(\\.|%2e){1,2};.*", ";", "dot segment with parameters"),
    # a control character (C0 or DEL), encoded: NUL, CR or LF are an injection (SECURITY.md
    # P13), and the facade refuses them all. Envoy itself rejects %2F and %5C
    # (path_with_escaped_slashes_action) and resolves "..", "%2e%2e" and "..;" segments,
    # routing and forwarding the same resolved path
    ("(?i).*%([01][0-9a-f]|7f).*", "%", "encoded control character"),
)


def _limited(routes: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Each route with its body limit in its metadata (``_over_limit`` answers a
    Content-Length over it; the buffer filter counts what arrives: chunked bodies)."""
    for route in routes:
        metadata = route.setdefault("metadata", {}).setdefault("filter_metadata", {})
        metadata[EDGE_FILTER] = {"max_body": limit}
    return routes


_INT64_END = 2**63 - 1


def _content_length_over(limit: int) -> dict[str, Any]:
    return {"name": "content-length", "range_match": {"start": limit + 1, "end": _INT64_END}}


def _over_limit(forwarding: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The forwarding routes, a Content-Length over a route's limit answered 413 before
    them by a direct answer, before the body is read, as the facade does (SECURITY.md,
    bodies): one route for the largest limit, then, before each route with a smaller limit,
    a copy of its match that answers over that limit. A native route, not Lua: no coroutine
    a request."""
    limits = [route["metadata"]["filter_metadata"][EDGE_FILTER]["max_body"] for route in forwarding]
    top = max(limits)
    found: list[dict[str, Any]] = [
        {
            "name": "body over max_body",
            "match": {"prefix": "/", "headers": [_content_length_over(top)]},
            "direct_response": {"status": 413},
        }
    ]
    for route, limit in zip(forwarding, limits, strict=True):
        if limit < top:
            match = dict(route["match"])
            match["headers"] = [*match.get("headers", []), _content_length_over(limit)]
            found.append(
                {
                    "name": f"{route['name']} body over max_body",
                    "match": match,
                    "direct_response": {"status": 413},
                }
            )
        found.append(route)
    return found


# facade.headers.valid_authority: a DNS name or a bracketed IPv6 address, a port up to 65535
_PORT_RE = "[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]"
_VALID_AUTHORITY = f"(?:[A-Za-z0-9._-]+|\\[[0-9A-Fa-f:.]+\\])(?::(?:{_PORT_RE}))?"


def route_config(config: Config, options: Options, used: set[str]) -> dict[str, Any]:
    targets = plan.targets(config, options)
    routes: list[dict[str, Any]] = [
        {
            "name": f"reject: {why}",
            "match": {
                "safe_regex": {"regex": regex},
                "headers": [{"name": ":path", "string_match": {"contains": held}}],
            },
            "direct_response": {"status": 400},
        }
        for regex, held, why in _REJECTED_PATHS
    ]
    routes.extend(
        [
            {
                # a Host the facade would refuse (facade.headers.valid_authority): it would be
                # written into a Location; two Host headers reach the router joined by a
                # comma, which no valid authority holds (SECURITY.md H8)
                "name": "reject: invalid Host header",
                "match": {
                    "prefix": "/",
                    "headers": [
                        {
                            "name": ":authority",
                            "string_match": {"safe_regex": {"regex": _VALID_AUTHORITY}},
                            "invert_match": True,
                        }
                    ],
                },
                "direct_response": {"status": 400},
            },
            {
                # a CONNECT (authority-form target) is never a request for an upstream here
                "name": "reject: connect",
                "match": {"connect_matcher": {}},
                "direct_response": {"status": 400},
            },
        ]
    )
    routes.append(
        {
            "name": "healthz",
            "match": {"path": "/healthz"},
            "direct_response": {"status": 200, "body": {"inline_string": '{"status": "ok"}'}},
            "response_headers_to_add": [
                {"header": {"key": "content-type", "value": "application/json"}}
            ],
        }
    )
    if options.admin_url is not None:
        used.add("admin")
        # serve --engine envoy: its admin process answers all three as the facade does, told
        # who the client is (the admin token's loopback rule is about the client, not Envoy)
        routes[-1] = {
            "name": "admin",
            "match": {"safe_regex": {"regex": "/(healthz|readyz|metrics)/?"}},
            "route": {"cluster": "admin", "timeout": "5s"},
            "request_headers_to_add": [
                {
                    "header": {
                        "key": CLIENT_ADDRESS_HEADER,
                        "value": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%",
                    },
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ],
        }
    else:
        for reserved in ("/readyz", "/metrics"):
            routes.append(
                {
                    "name": reserved.strip("/"),
                    "match": {"path": reserved},
                    "direct_response": {"status": 404},
                }
            )
    forwarding: list[dict[str, Any]] = []
    for rule in plan.rules(config):
        target = targets[rule.capability]
        limit = config.max_body(target.capability)
        found = _limited(_attributed(_routes_of(config, rule, target, used), target), limit)
        forwarding.extend(found)
    forwarding.extend(
        _limited(
            _attributed(
                [{"name": "legacy", "match": {"prefix": "/"}, "route": _legacy_action(config)}]
            ),
            config.routes.limits.max_body,
        )
    )
    routes.extend(_over_limit(forwarding))
    for route in routes:
        if "route" in route:
            # the client's origin, for the edge filter's Location rewrite (it removes it)
            route["response_headers_to_add"] = [
                {
                    "header": {"key": ORIGIN_HEADER, "value": "http://%REQ(:AUTHORITY)%"},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ]
    _skip_filters(routes)
    added = [
        {
            "header": {"key": "x-forwarded-host", "value": "%REQ(:AUTHORITY)%"},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }
    ]
    if config.routes.forwarded.trusted_hops == 0:
        # at the edge X-Forwarded-For is the direct peer alone (SECURITY.md H3): the client's
        # was removed before routing, and Envoy's own append is skipped (it writes its own
        # address for a loopback peer); with trusted hops the edge filter writes it
        added.append(
            {
                "header": {
                    "key": "x-forwarded-for",
                    "value": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%",
                },
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        )
    return {
        "name": "strangler",
        # the canary's mark, and Envoy's own note of the client address (X-Forwarded-For has it)
        "request_headers_to_remove": [SIDE_HEADER, "x-envoy-external-address"],
        # facade.headers.HOP_BY_HOP of an answer; those its Connection header names, the
        # edge filter removes
        "response_headers_to_remove": list(RESPONSE_HOP_BY_HOP),
        "virtual_hosts": [
            {
                "name": "strangler",
                "domains": ["*"],
                "routes": routes,
                # the facade's X-Forwarded-Host: the Host the client asked for
                "request_headers_to_add": added,
            }
        ],
    }


RESPONSE_HOP_BY_HOP = ("proxy-authenticate", "proxy-authorization", "trailer", "keep-alive")


def _disabled(filter_name: str, api: str) -> dict[str, Any]:
    return {filter_name: {"@type": _API + api, "disabled": True}}


_NO_BUFFER = _disabled(
    "envoy.filters.http.buffer", "extensions.filters.http.buffer.v3.BufferPerRoute"
)
_NO_EDGE = _disabled(EDGE_FILTER, "extensions.filters.http.lua.v3.LuaPerRoute")
_NO_CANARY = _disabled(LUA_FILTER, "extensions.filters.http.lua.v3.LuaPerRoute")


def _skip_filters(routes: list[dict[str, Any]]) -> None:
    """Each route without the filters it needs nothing from: no Lua runs for it (each Lua
    filter costs a coroutine a request).

    Envoy's direct answers (the refusals, /healthz) skip the buffer filter, so a refusal is
    answered before any body is waited for (an ``Expect: 100-continue`` client's would never
    come), and the edge filter; the canary filter runs only on a canary's monolith route,
    the one carrying its split (the service's route is matched after it ran)."""
    for route in routes:
        per_filter: dict[str, Any] = {}
        if "direct_response" in route:
            per_filter.update(_NO_BUFFER)
            per_filter.update(_NO_EDGE)
        if LUA_FILTER not in route.get("metadata", {}).get("filter_metadata", {}):
            per_filter.update(_NO_CANARY)
        route.setdefault("typed_per_filter_config", {}).update(per_filter)


def _early_mutation(config: Config) -> list[dict[str, Any]]:
    removed = [*_DROPPED]
    if config.routes.forwarded.trusted_hops == 0:
        # at the edge the client's own X-Forwarded-For is not trusted: Envoy then writes the
        # peer's address alone, as the facade does
        removed.append("x-forwarded-for")
    return [
        {
            "name": "envoy.http.early_header_mutation.header_mutation",
            "typed_config": {
                "@type": _API
                + "extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation",
                "mutations": [
                    *({"remove": name} for name in removed),
                    # the facade's own namespace (SECURITY.md S4), and the canary's mark
                    {
                        "remove_on_match": {
                            "key_matcher": {"safe_regex": {"regex": "(?i)x-strangler-.*"}}
                        }
                    },
                ],
            },
        }
    ]


def edge_lua(config: Config) -> str:
    """The Lua of the edge rules (``edge.lua``): X-Forwarded-For and Location as the facade
    writes them where Envoy cannot, and the headers an answer's Connection names removed."""
    routes = config.routes
    urls = [routes.legacy.url, *(service.url for service in routes.services.values())]
    origins = sorted({str(URL(url).origin()) for url in urls})
    table = ", ".join(json.dumps(origin) for origin in origins)
    source = resources.files("strangler.export").joinpath("edge.lua").read_text("utf-8")
    source = source.replace("TRUSTED_HOPS = 0", f"TRUSTED_HOPS = {routes.forwarded.trusted_hops}")
    return source.replace("UPSTREAM_ORIGINS = {}", f"UPSTREAM_ORIGINS = {{{table}}}", 1)


def _edge_lua(config: Config) -> dict[str, Any]:
    return {
        "name": EDGE_FILTER,
        "typed_config": {
            "@type": _API + "extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": edge_lua(config)},
        },
    }


def _problem_mapper(status: int, *, becomes: int | None = None) -> dict[str, Any]:
    answered = becomes or status
    mapper: dict[str, Any] = {
        "filter": {
            "status_code_filter": {
                "comparison": {
                    "op": "EQ",
                    "value": {"default_value": status, "runtime_key": f"strangler.reply.{status}"},
                }
            }
        },
        # the problem's title (the body_format below puts it there)
        "body": {"inline_string": HTTPStatus(answered).phrase},
        "headers_to_add": [
            {
                "header": {"key": "cache-control", "value": "no-store"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
    }
    if becomes is not None:
        mapper["status_code"] = becomes
    return mapper


def _refusal_mapper(expression: str, *, detail: str | None = None) -> dict[str, Any]:
    """Envoy's local reply for requests matching the CEL ``expression``, as a 400 whose
    detail is ``detail`` (a formatter string), else Envoy's response code details."""
    mapper = _problem_mapper(400)
    if detail is not None:
        mapper["body_format_override"] = {
            "json_format": {**_PROBLEM_FORMAT, "detail": detail},
            "content_type": "application/problem+json",
        }
    mapper["filter"] = {
        "extension_filter": {
            "name": "envoy.access_loggers.extension_filters.cel",
            "typed_config": {
                "@type": _API + "extensions.access_loggers.filters.cel.v3.ExpressionFilter",
                "expression": expression,
            },
        }
    }
    mapper["status_code"] = 400
    return mapper


_PROBLEM_FORMAT = {
    "type": "about:blank",
    "title": "%LOCAL_REPLY_BODY%",
    "status": "%RESPONSE_CODE%",
    "detail": "%RESPONSE_CODE_DETAILS%",
}

# Envoy's own answers (a refused request, 413, no upstream, a timeout) as the facade's:
# application/problem+json (facade.problem), the title the status's phrase; an unknown or
# malformed Transfer-Encoding is 400 as in the facade, not Envoy's 501. A 2xx or 3xx Envoy
# makes (the export's /healthz) keeps its body.
LOCAL_REPLY: dict[str, Any] = {
    "mappers": [
        {
            "filter": {
                "status_code_filter": {
                    "comparison": {
                        "op": "LE",
                        "value": {"default_value": 399, "runtime_key": "strangler.reply.ok"},
                    }
                }
            },
            "body_format_override": {
                "text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"},
                "content_type": "application/json",
            },
        },
        _problem_mapper(501, becomes=400),
        # the export's own refusals (reject routes) say which rule refused
        _refusal_mapper(
            "has(xds.route_name) && xds.route_name.startsWith('reject: ')",
            detail="%ROUTE_NAME%",
        ),
        _refusal_mapper(
            "response.code_details == 'http.invalid_authority'",
            detail="reject: invalid Host header",
        ),
        # an absolute-form target (refused by allow_absolute_url) and a CONNECT are bad
        # requests, as in the facade; Envoy's own are 404 and 403
        _refusal_mapper("response.code_details == 'absolute_path_rejected'"),
        _refusal_mapper("request.method == 'CONNECT'"),
        *(
            _problem_mapper(status)
            for status in (400, 403, 404, 405, 408, 413, 414, 421, 429, 431, 500, 502, 503, 504)
        ),
    ],
    "body_format": {
        "json_format": _PROBLEM_FORMAT,
        "content_type": "application/problem+json",
    },
}

# Envoy's runtime, as the facade: a request target with a #fragment is refused (400), not
# stripped (RFC 9112 3.2: a fragment is no part of a request target)
RUNTIME: dict[str, Any] = {
    "layers": [
        {
            "name": "strangler",
            "static_layer": {"envoy.reloadable_features.http_reject_path_with_fragment": True},
        }
    ]
}


def every_cluster(config: Config) -> set[str]:
    """The name of every cluster a mode of this routes.yaml's services can use: a running
    Envoy then keeps the same clusters while capabilities change mode (no cluster warms or
    goes away under a request when only a mode or a percent changed)."""
    names = {"facade", "compare", "admin"}
    for name in config.routes.services:
        names |= {_cluster_name("fallback", name), _cluster_name("fallback-unsafe", name)}
    return names


def bootstrap(config: Config, options: Options, *, all_clusters: bool = False) -> dict[str, Any]:
    """The whole ``envoy.yaml`` as a dict; ExportError when routes.yaml cannot be expressed.
    ``all_clusters``: every cluster ``every_cluster`` names, not only those the routes use."""
    plan.check_upstreams(config, options)
    used: set[str] = every_cluster(config) if all_clusters else set()
    routes = route_config(config, options, used)
    limits = config.routes.limits
    host, port = options.listen
    manager = {
        "@type": _HCM,
        "stat_prefix": "strangler",
        "codec_type": "AUTO",
        "use_remote_address": True,
        "xff_num_trusted_hops": config.routes.forwarded.trusted_hops,
        # the edge Lua filter writes X-Forwarded-For as the facade does (edge.lua)
        "skip_xff_append": True,
        # the client's X-Request-Id goes upstream, as the facade sends it
        "preserve_external_request_id": True,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "common_http_protocol_options": {
            # as the facade: the header never reaches an upstream, the request does
            # (SECURITY.md H5: gunicorn would make SCRIPT_NAME of it)
            "headers_with_underscores_action": "DROP_HEADER",
            "idle_timeout": _duration(limits.keepalive_timeout),
        },
        # an absolute-form target (GET http://evil.example/...) is refused, as by the facade:
        # the upstream and its Host come only from routes.yaml and the client's Host
        "http_protocol_options": {"allow_absolute_url": False},
        "local_reply_config": LOCAL_REPLY,
        "request_headers_timeout": _duration(limits.header_timeout),
        # the whole request, body included, within limits.body_deadline: 408 (SECURITY.md S1)
        "request_timeout": _duration(limits.body_deadline),
        "max_request_headers_kb": 60,
        "early_header_mutation_extensions": _early_mutation(config),
        "route_config": routes,
        "http_filters": [
            _edge_lua(config),
            {
                # bodies are read whole, up to the limit, before any upstream is called: 413
                # over it, and a body is there to send again on a retry or a fallback
                "name": "envoy.filters.http.buffer",
                "typed_config": {
                    "@type": _API + "extensions.filters.http.buffer.v3.Buffer",
                    "max_request_bytes": limits.max_body,
                },
            },
            {
                "name": LUA_FILTER,
                "typed_config": {
                    "@type": _API + "extensions.filters.http.lua.v3.Lua",
                    "default_source_code": {"inline_string": canary_lua()},
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": _API + "extensions.filters.http.router.v3.Router",
                    # upstreams see no x-envoy-expected-rq-timeout-ms and the like
                    "suppress_envoy_headers": True,
                },
            },
        ],
    }
    if options.access_log == "json":
        manager["access_log"] = [ACCESS_LOG]
        filters = manager["http_filters"]
        assert isinstance(filters, list)
        # before the router: the path it forwards, with secret query values redacted
        filters.insert(-1, _access_log_lua(config))
    return {
        "admin": {
            "address": {
                "socket_address": {"address": "127.0.0.1", "port_value": options.admin_port}
            }
        },
        "layered_runtime": RUNTIME,
        "static_resources": {
            "listeners": [
                {
                    "name": "strangler",
                    "address": {"socket_address": {"address": host, "port_value": port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": _served_by_labels(clusters(config, options, used)),
        },
        # the route stats' latencies in the facade's buckets (strangler.engine.envoy_stats)
        "stats_config": {
            "histogram_bucket_settings": [
                {
                    "match": {"prefix": "vhost.strangler.route."},
                    "buckets": [bound * 1000 for bound in LATENCY_BUCKETS],
                }
            ]
        },
    }


# -- observability: who served, per capability (access log and stats) --------------------------

# the metadata namespace of routes (capability, mode) and endpoints (served_by)
METADATA = "strangler"
ACCESS_LOG_FILTER = "strangler.access_log"
_ROUTE = "xds.route_metadata.filter_metadata"
_HOST = "xds.upstream_host_metadata.filter_metadata"
# facade.access_log's keys, with the same meanings (docs/engines.md); where Envoy holds no
# value (no route, no upstream) the defaults are the facade's: mode legacy, served by facade
ACCESS_LOG_FORMAT = {
    "time": "%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%",
    "method": "%REQ(:METHOD)%",
    "path": f"%DYNAMIC_METADATA({ACCESS_LOG_FILTER}:path)%",
    "status": "%RESPONSE_CODE%",
    "latency_ms": "%DURATION%",
    "bytes": "%BYTES_SENT%",
    "capability": f"%METADATA(ROUTE:{METADATA}:capability)%",
    "mode": f"%CEL(has(xds.route_metadata) && has({_ROUTE}.{METADATA}) "
    f"? {_ROUTE}.{METADATA}.mode : 'legacy')%",
    "served_by": f"%CEL(has(xds.upstream_host_metadata) "
    f"? {_HOST}.{METADATA}.served_by : 'facade')%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "trace_id": "%CEL(re.extract(request.headers['traceparent'], "
    "'^00-([0-9a-f]{32})-[0-9a-f]+-[0-9a-f]+$', '\\\\1'))%",
}
ACCESS_LOG = {
    "name": "envoy.access_loggers.stdout",
    "typed_config": {
        "@type": _API + "extensions.access_loggers.stream.v3.StdoutAccessLog",
        "log_format": {"json_format": ACCESS_LOG_FORMAT},
    },
}


def stat_prefix(capability: str, served_by: str) -> str:
    """A route's stat prefix: its capability (``-`` for none) and who its cluster serves by
    (``~`` is in no routes.yaml name); Envoy's stats then carry ``envoy_route="<this>"``."""
    return f"{capability}~{served_by}"


def served_by(cluster: str) -> str:
    """Who a cluster's answers are served by, in the facade's terms: ``legacy``, a service's
    name (its fallback composites too: per capability, Envoy's stats cannot tell them apart),
    ``facade`` (the Python facade that translates)."""
    kind, _, name = cluster.partition(".")
    return name or kind


def _attributed(routes: list[dict[str, Any]], target: Target | None = None) -> list[dict[str, Any]]:
    """Each forwarding route with its stat prefix, and its capability and mode as metadata
    (the access log's ``capability`` and ``mode``); routing is left as it was."""
    capability = target.name if target is not None else "-"
    for route in routes:
        action = route.get("route")
        if action is None:
            continue
        route["stat_prefix"] = stat_prefix(capability, served_by(action["cluster"]))
        if target is not None:
            metadata = route.setdefault("metadata", {}).setdefault("filter_metadata", {})
            metadata[METADATA] = {"capability": capability, "mode": target.capability.mode}
    return routes


def _served_by_labels(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each endpoint names who it serves as (the access log's ``served_by``): the host that
    answered, so a fallback through a composite cluster is ``legacy``."""
    for cluster in found:
        assignment = cluster.get("load_assignment")
        for group in assignment["endpoints"] if assignment else ():
            for endpoint in group["lb_endpoints"]:
                endpoint["metadata"] = {
                    "filter_metadata": {METADATA: {"served_by": served_by(cluster["name"])}}
                }
    return found


def access_log_lua(config: Config) -> str:
    """The Lua that puts the forwarded path, secret query values redacted as
    ``parallel_run.redact.Redactor.target`` does, where the access log reads it."""
    names = sorted(redactor_for(config).query_params)
    table = ", ".join(f"[{json.dumps(name)}] = true" for name in names)
    source = resources.files("strangler.export").joinpath("access_log.lua").read_text("utf-8")
    return source.replace("SECRET_NAMES = {}", f"SECRET_NAMES = {{{table}}}", 1)


def _access_log_lua(config: Config) -> dict[str, Any]:
    return {
        "name": ACCESS_LOG_FILTER,
        "typed_config": {
            "@type": _API + "extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": access_log_lua(config)},
        },
    }


def render(config: Config, options: Options) -> str:
    """``envoy.yaml``'s text: JSON, which is YAML, with a header comment saying its source."""
    body = json.dumps(bootstrap(config, options), indent=2)
    return (
        f"# compiled by `strangler export envoy` from {config.source} (sha256 {config.digest})\n"
        "# do not edit: export again after changing routes.yaml\n" + body + "\n"
    )


__all__ = ["ExportError", "bootstrap", "canary_lua", "every_cluster", "render"]
