"""routes.yaml compiled into a complete ``nginx.conf``: a pure function.

The file runs as written with ``nginx -p DIR -c DIR/nginx.conf``: the pid file, logs and
temporary directories are relative to the prefix. What maps to what:

- ``map "$request_method:$uri" $strangler_route``: every ``match:`` entry as a regex, in the
  matcher's order (``plan.rules``), to a named location; anything else to ``@legacy``. The
  one ``location /`` jumps there (``error_page 418 = $strangler_route; return 418``), so the
  request is routed on the normalized path nginx matched, and forwarded as that path
  (``rewrite ^ $uri break``: never the raw form with dot segments the route did not see);
- ``extracted``: the service's upstream, its server listed ``retries + 1`` times (nginx's way
  to try it again), the monolith as a ``backup`` server that takes over when the service
  fails (``proxy_next_upstream``) or is marked down (``max_fails`` within ``fail_timeout``);
  unsafe methods only move on connect errors (nginx never resends a non-idempotent request
  once sent), and only where ``unsafe_falls_back`` allows;
- ``canary``: ``split_clients`` on the sticky key (MurmurHash2: not the Python engine's
  bucket, so keys move between engines; ``--explain`` says so);
- ``shadow``: ``mirror`` to the compare service, sampled by ``split_clients`` on the request id;
- a translator: the capability goes to a Python facade (``--facade-url``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from facade.config import Config, Service
from facade.headers import NEVER_FORWARDED
from strangler.export import plan
from strangler.export.plan import ExportError, Options, Rule, Target

# what the facade never forwards (facade.headers), but for what nginx handles itself: it drops
# Connection, Keep-Alive, TE, Upgrade, Expect and the framing headers, the X-Forwarded-*
# headers below are set from what nginx saw, and Proxy-Authenticate is a response header
_NGINX_HANDLES = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "expect",
        "content-length",
        "transfer-encoding",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "proxy-authenticate",
    }
)
_DROPPED = (
    *(name.title() for name in sorted(NEVER_FORWARDED - _NGINX_HANDLES)),
    # the facade's own namespace: nginx cannot drop a prefix, so the names it uses
    "X-Strangler-Shadow",
    "X-Strangler-Side",
    "X-Strangler-Replay",
    "X-Strangler-Route",
)
# encoded slash, backslash, NUL, CR, LF, '?' and '#' in the path (not the query): ambiguous
# or injections (SECURITY.md P5, P6, P13); '?' and '#' would also end the path nginx forwards
_REJECTED = r'"^[^?]*(%2[fF]|%5[cC]|%00|%0[aAdD]|%3[fF]|%23)"'
_PARAMETER_DOT = r'"^[^?]*/\.\.;"'


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


# in a double-quoted string nginx reads these after a backslash; any other keeps its backslash
_NGINX_ESCAPES = re.compile(r'\\["\'\\tnr]|\\$')


def _quote(text: str) -> str:
    if '"' in text or "\n" in text or _NGINX_ESCAPES.search(text):
        raise ExportError(f"cannot quote {text!r} for nginx")
    return f'"{text}"'


def _server(url: str, extra: str = "") -> str:
    where = plan.host_port(url)
    host = f"[{where.host}]" if ":" in where.host else where.host
    return f"server {host}:{where.port}{extra};"


class _Names:
    """nginx names for capabilities (variables allow only [A-Za-z0-9_])."""

    def __init__(self, config: Config) -> None:
        self.index = {name: i for i, name in enumerate(config.routes.capabilities)}

    def location(self, rule: Rule, side: str = "") -> str:
        base = f"@c{self.index[rule.capability]}_{rule.group}"
        return f"{base}_{side}" if side else base


def _headers(config: Config, *, shadow: bool = False) -> list[str]:
    hops = config.routes.forwarded.trusted_hops
    lines = [
        # upstreams see the client's Host, as without the facade (CONTRACT.md)
        "proxy_set_header Host $http_host;",
        'proxy_set_header Connection "";',
        "proxy_set_header X-Forwarded-For "
        + ("$proxy_add_x_forwarded_for;" if hops else "$remote_addr;"),
        "proxy_set_header X-Forwarded-Proto " + ("$strangler_proto;" if hops else "$scheme;"),
        "proxy_set_header X-Forwarded-Host $http_host;",
        "proxy_set_header X-Request-Id $request_id;",
    ]
    lines += [
        f'proxy_set_header {name} "";'
        for name in _DROPPED
        if not shadow or name != "X-Strangler-Shadow"
    ]
    if shadow:
        lines.append('proxy_set_header X-Strangler-Shadow "1";')
    return lines


def _service_servers(service: Service, copies: int) -> list[str]:
    """The service's server, listed ``copies`` times (nginx retries by moving to the next)."""
    breaker = service.circuit_breaker
    fails = max(1, round(breaker.min_calls * breaker.failure_rate))
    # the bulkhead: past max_conns a server is skipped (the backup then takes the request);
    # nginx counts it per listed server, so the copies share max_concurrency
    server = _server(
        service.url,
        f" max_fails={fails} fail_timeout={max(1, round(breaker.open_for))}s"
        f" max_conns={max(1, service.max_concurrency // copies)}",
    )
    return [server] * copies


def _upstreams(config: Config, options: Options, used: set[str]) -> list[str]:
    legacy = config.routes.legacy
    blocks = [_upstream("strangler_legacy", [_server(legacy.url)])]
    for name, service in sorted(config.routes.services.items()):
        if f"service:{name}" in used:
            blocks.append(
                _upstream(f"strangler_service_{_var(name)}", _service_servers(service, 1))
            )
        if f"fallback:{name}" in used:
            if plan.host_port(service.url).scheme != plan.host_port(legacy.url).scheme:
                raise ExportError(
                    f"service {name!r} and the monolith differ in scheme (http/https): nginx "
                    "cannot fall back from one to the other within an upstream"
                )
            servers = _service_servers(service, service.retries + 1)
            servers.append(_server(legacy.url, " backup"))
            blocks.append(_upstream(f"strangler_fallback_{_var(name)}", servers))
    for helper, url in (("facade", options.facade_url), ("compare", options.compare_url)):
        if url is not None and helper in used:
            blocks.append(_upstream(f"strangler_{helper}", [_server(url)]))
    return blocks


def _upstream(name: str, servers: Iterable[str]) -> str:
    inner = "\n".join(f"        {s}" for s in servers)
    return f"    upstream {name} {{\n{inner}\n        keepalive 32;\n    }}"


def _var(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def _scheme(url: str) -> str:
    return plan.host_port(url).scheme


def _location(name: str, body: list[str]) -> str:
    inner = "\n".join(f"            {line}" for line in body)
    return f"        location {name} {{\n{inner}\n        }}"


def _legacy_body(config: Config) -> list[str]:
    legacy = config.routes.legacy
    return [
        "rewrite ^ $uri break;",
        f"proxy_pass {_scheme(legacy.url)}://strangler_legacy;",
        f"proxy_connect_timeout {_ms(legacy.connect_timeout)};",
        f"proxy_read_timeout {_ms(legacy.timeout)};",
        f"proxy_send_timeout {_ms(legacy.timeout)};",
    ]


def _service_body(config: Config, target: Target, rule: Rule, used: set[str]) -> list[str]:
    service = config.routes.services[target.service]
    fallback = plan.falls_back(target, rule.group)
    upstream = f"fallback:{target.service}" if fallback else f"service:{target.service}"
    used.add(upstream)
    kind, _, name = upstream.partition(":")
    body = [
        "rewrite ^ $uri break;",
        f"proxy_pass {_scheme(service.url)}://strangler_{kind}_{_var(name)};",
        f"proxy_connect_timeout {_ms(service.connect_timeout)};",
        f"proxy_read_timeout {_ms(service.timeout)};",
        f"proxy_send_timeout {_ms(service.timeout)};",
    ]
    if fallback and rule.group == "safe":
        body.append("proxy_next_upstream error timeout http_500 http_502 http_503 http_504;")
        body.append(f"proxy_next_upstream_tries {service.retries + 2};")
    elif fallback:
        # nginx passes a non-idempotent request on only if the service never got it
        body.append("proxy_next_upstream error timeout;")
        body.append("proxy_next_upstream_tries 2;")
    else:
        body.append("proxy_next_upstream off;")
    return body


def _mirror_location(config: Config, options: Options, index: int, target: Target) -> str:
    service = config.routes.services[target.service]
    timeout = target.capability.shadow.timeout or service.timeout
    body = [
        "internal;",
        f'if ($strangler_mirror_{index} = "") {{ return 204; }}',
        f"proxy_pass {_scheme(str(options.compare_url))}://strangler_compare$request_uri;",
        "proxy_connect_timeout 1s;",
        f"proxy_read_timeout {_ms(timeout)};",
        *_headers(config, shadow=True),
    ]
    return _location(f"= /_strangler/mirror/{index}", body)


def _sticky_source(sticky: str, index: int) -> str:
    """The nginx variable holding a capability's sticky value (a cookie's: its own map)."""
    kind, _, name = sticky.partition(":")
    if kind == "header":
        return "$http_" + name.lower().replace("-", "_")
    if kind == "cookie":
        return f"$strangler_cookie_{index}"
    return "$remote_addr"


def _shares(percent: float, inside: str, outside: str) -> list[str]:
    """split_clients lines giving ``inside`` ``percent``% (to 0.01, nginx's precision)."""
    rounded = round(percent, 2)
    if rounded >= 100:
        return [f"* {inside};"]
    if rounded <= 0:
        return [f"* {outside};"]
    return [f"{rounded:g}% {inside};", f"* {outside};"]


def render(config: Config, options: Options) -> str:
    """The whole ``nginx.conf``; ExportError when routes.yaml cannot be expressed."""
    plan.check_upstreams(config, options)
    targets = plan.targets(config, options)
    names = _Names(config)
    used: set[str] = set()
    route_map: list[str] = []
    locations: list[str] = [_location("@legacy", _legacy_body(config))]
    defined: set[str] = {"@legacy"}
    maps: list[str] = []
    for rule in plan.rules(config):
        target = targets[rule.capability]
        methods = plan.rule_methods(rule)
        method_re = "(" + "|".join(methods) + ")" if methods else "[A-Z]+"
        key = f"~^{method_re}:{plan.path_regex(rule.template, decoded=True)[1:]}"
        index = names.index[rule.capability]
        if target.kind == "legacy":
            value = "@legacy"
        elif target.kind == "facade":
            used.add("facade")
            value = "@facade"
            if value not in defined:
                defined.add(value)
                locations.append(
                    _location(
                        "@facade",
                        [
                            "rewrite ^ $uri break;",
                            f"proxy_pass {_scheme(str(options.facade_url))}://strangler_facade;",
                        ],
                    )
                )
        elif target.kind == "canary":
            value = names.location(rule) + f"_$strangler_side_{index}"
            service_loc = names.location(rule, "service")
            if service_loc not in defined:
                defined.add(service_loc)
                locations.append(_location(service_loc, _service_body(config, target, rule, used)))
                locations.append(_location(names.location(rule, "legacy"), _legacy_body(config)))
        else:
            value = names.location(rule)
            if value not in defined:
                defined.add(value)
                if target.kind == "extracted":
                    body = _service_body(config, target, rule, used)
                else:  # shadow: the monolith answers; a sample is mirrored
                    body = _legacy_body(config)
                    if plan.mirrors(target, rule.group):
                        used.add("compare")
                        body = [f"mirror /_strangler/mirror/{index};", *body]
                locations.append(_location(value, body))
        route_map.append(f"        {_quote(key)} {_quote(value)};  # {rule.capability}")
    for name, target in targets.items():
        index = names.index[name]
        if target.kind == "canary":
            canary = target.capability.canary
            kind, _, cookie = canary.sticky.partition(":")
            if kind == "cookie":
                maps.append(
                    f"    map $http_cookie $strangler_cookie_{index} {{\n"
                    f'        "~^(?:.*;)?\\s*{re.escape(cookie)}=\\"?(?<v>[^;\\"]*)" $v;\n'
                    '        default "";\n    }'
                )
            source = _sticky_source(canary.sticky, index)
            # the facade's sticky_key: the header or cookie, else the client's address
            maps.append(
                f"    map {source} $strangler_key_{index} {{\n"
                f'        "" $remote_addr;\n        default {source};\n    }}'
            )
            inner = "\n".join(f"        {s}" for s in _shares(canary.percent, "service", "legacy"))
            maps.append(
                f"    # {name}: canary {canary.percent:g}% on {canary.sticky}\n"
                f'    split_clients "${{strangler_key_{index}}}" $strangler_side_{index} {{\n'
                f"{inner}\n    }}"
            )
        elif plan.mirrors(target, "safe"):
            maps.append(
                f"    # {name}: {target.mirror_percent:g}% of its requests mirrored\n"
                f'    split_clients "$request_id" $strangler_mirror_{index} {{\n'
                + "\n".join(f"        {s}" for s in _shares(target.mirror_percent, '"1"', '""'))
                + "\n    }"
            )
            locations.append(_mirror_location(config, options, index, target))
    limits = config.routes.limits
    host, port = options.listen
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    proto = (
        "    map $http_x_forwarded_proto $strangler_proto {\n"
        "        http http;\n        https https;\n        default $scheme;\n    }\n"
        if config.routes.forwarded.trusted_hops
        else ""
    )
    header_lines = "\n".join(f"        {line}" for line in _headers(config))
    return f"""\
# compiled by `strangler export nginx` from {config.source} (sha256 {config.digest})
# do not edit: export again after changing routes.yaml. Run: nginx -p DIR -c DIR/nginx.conf
worker_processes auto;
pid nginx.pid;
error_log error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log access.log;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    server_tokens off;
    merge_slashes on;
    # names with '_' are dropped: gunicorn would make them WSGI environ keys (SECURITY.md H5)
    underscores_in_headers off;
    ignore_invalid_headers on;
    client_max_body_size {limits.max_body};
    client_header_timeout {_ms(limits.header_timeout)};
    keepalive_timeout {_ms(limits.keepalive_timeout)};
    proxy_http_version 1.1;
    proxy_request_buffering on;
    proxy_redirect off;
    proxy_intercept_errors off;
{proto}
    map "$request_method:$uri" $strangler_route {{
        default "@legacy";
{chr(10).join(route_map)}
    }}
{chr(10).join(maps)}
{chr(10).join(_upstreams(config, options, used))}
    server {{
        listen {listen};
{header_lines}
        if ($request_uri ~ {_REJECTED}) {{ return 400; }}
        if ($request_uri ~ {_PARAMETER_DOT}) {{ return 400; }}
        location = /healthz {{
            default_type application/json;
            return 200 '{{"status": "ok"}}';
        }}
        location = /readyz {{ return 404; }}
        location = /metrics {{ return 404; }}
        location / {{
            error_page 418 = $strangler_route;
            return 418;
        }}
{chr(10).join(locations)}
    }}
}}
"""


__all__ = ["ExportError", "render"]
