"""Which mirrored requests are compared, decided from the routes.yaml in force.

The same normalization and matcher as the facade (``facade.config.normalize``,
``Config.matcher``): a mirror and the proxy it copies from agree on the capability. Only
capabilities in shadow mode are compared, and only the methods shadow mode sends
(``facade.shadow.wants_shadow``); everything else is answered and ignored, counted by reason.
Sampling is the sender's: Envoy's runtime fraction or nginx's ``split_clients`` copies
``shadow.percent`` of the traffic, so a capability at 0% is ignored here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from multidict import CIMultiDictProxy

from facade.config import Capability, Config
from facade.config.normalize import Target
from facade.headers import valid_authority
from facade.shadow import wants_shadow
from parallel_run.methods import SAFE_METHODS

# Envoy's request_mirror_policies appends this to the Host/:authority of the copy unless told
# not to (the export does: disable_shadow_host_suffix_append); --host-suffix for other senders
SHADOW_SUFFIX = "-shadow"


@dataclass(frozen=True, slots=True)
class Compare:
    """A mirrored request to compare: its capability, route template and public Host."""

    capability: str
    route: str
    service: str
    host: str | None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A mirrored request answered and not compared, and why (the metric's label)."""

    reason: str


def original_host(headers: CIMultiDictProxy[str], suffix: str = "") -> str | Ignored | None:
    """The Host the client sent: ``suffix`` (a sender's, e.g. Envoy's ``-shadow`` when it is
    not disabled) removed when configured, else the copy's Host as it is.

    None when there is none (HTTP/1.0); ``Ignored`` for several Hosts or an invalid one, the
    rule the facade holds a client's Host to (it is forwarded to both upstreams)."""
    hosts = headers.getall("Host", ())
    if len(hosts) > 1:
        return Ignored("bad_host")
    if not hosts:
        return None
    host = hosts[0].removesuffix(suffix) if suffix else hosts[0]
    return host if valid_authority(host) else Ignored("bad_host")


def decide(config: Config, method: str, target: Target, host: str | None) -> Compare | Ignored:
    """Compare this mirrored request, or ignore it (and why)."""
    match = config.matcher.match(method, target.path)
    if match is None:
        return Ignored("no_capability")
    capability: Capability = config.routes.capabilities[match.route.capability]
    if capability.mode != "shadow" or capability.service is None:
        return Ignored("not_shadow")
    if method.upper() not in SAFE_METHODS:
        # the client's own request already reached the monolith through the proxy: sending a
        # write there again as the control call would run it twice (a second order), whatever
        # shadow.unsafe_methods says
        return Ignored("unsafe_method")
    if not wants_shadow(capability, method, 0.0):
        # roll 0: percent > 0 passes; the sender sampled already
        return Ignored("method" if capability.shadow.percent > 0 else "percent_zero")
    return Compare(match.route.capability, match.route.template, capability.service, host)
