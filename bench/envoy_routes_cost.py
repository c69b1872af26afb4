"""Where the Envoy engine's per-request cost goes on the three-capability routes.yaml: the
export with one part changed at a time, against the hand-written route, interleaved in rounds.

Run as ``python -m bench.envoy_routes_cost [--seconds 5] [--rounds 3] [--route legacy]``.
Variants (each a transform of ``strangler export envoy``'s config; the behaviour-changing ones
only tell what a part costs):

- ``hand``: ``bench.engines.hand_written_envoy``;
- ``export``: the export as written;
- ``method-exact``: each ``:method`` regex of one method as an ``exact`` string match;
- ``no-stats``: without the routes' ``stat_prefix`` (per-route stats);
- ``no-reject-regex``: without the refusal routes matched by a path regex;
- ``no-host-check``: without the route refusing an invalid Host (a regex on ``:authority``);
- ``no-edge``: without the edge Lua filter (its ``envoy_on_response`` runs on every answer);
- ``no-header-mutation``: without the early header mutation removing ``x-strangler-*``;
- ``all-cuts``: all of the above.

Prints one markdown table of medians: rps and Envoy's CPU µs per request, each against ``hand``.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
from collections.abc import Callable
from typing import Any

from bench.envoy_filters import measure_variants
from bench.report import markdown_table

Config = dict[str, Any]


def _hcm(config: Config) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    typed: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return typed


def _routes(config: Config) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _hcm(config)["route_config"]["virtual_hosts"][0]["routes"]
    return found


def method_exact(config: Config) -> Config:
    found = copy.deepcopy(config)
    for route in _routes(found):
        for header in route["match"].get("headers", []):
            regex = header.get("string_match", {}).get("safe_regex", {}).get("regex", "")
            if header["name"] == ":method" and "|" not in regex:
                header["string_match"] = {"exact": regex.removeprefix("^(").removesuffix(")$")}
    return found


def no_stats(config: Config) -> Config:
    found = copy.deepcopy(config)
    for route in _routes(found):
        route.pop("stat_prefix", None)
    return found


def _drop_routes(config: Config, keep: Callable[[dict[str, Any]], bool]) -> Config:
    found = copy.deepcopy(config)
    vhost = _hcm(found)["route_config"]["virtual_hosts"][0]
    vhost["routes"] = [r for r in vhost["routes"] if keep(r)]
    return found


def no_reject_regex(config: Config) -> Config:
    return _drop_routes(
        config, lambda r: not (r["name"].startswith("reject:") and "safe_regex" in r["match"])
    )


def no_host_check(config: Config) -> Config:
    return _drop_routes(config, lambda r: r["name"] != "reject: invalid Host header")


def no_edge(config: Config) -> Config:
    found = copy.deepcopy(config)
    hcm = _hcm(found)
    hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != "strangler.edge"]
    return found


def no_header_mutation(config: Config) -> Config:
    found = copy.deepcopy(config)
    _hcm(found).pop("early_header_mutation_extensions", None)
    return found


def all_cuts(config: Config) -> Config:
    for cut in (method_exact, no_stats, no_reject_regex, no_host_check, no_edge):
        config = cut(config)
    return no_header_mutation(config)


VARIANTS: dict[str, Callable[[Config], Config]] = {
    "export": copy.deepcopy,
    "method-exact": method_exact,
    "no-stats": no_stats,
    "no-reject-regex": no_reject_regex,
    "no-host-check": no_host_check,
    "no-edge": no_edge,
    "no-header-mutation": no_header_mutation,
    "all-cuts": all_cuts,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--route", choices=("legacy", "extracted", "canary"), default="legacy")
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    route = f"/api/{args.route}/SKU-00001"
    load_start = os.getloadavg()[0]
    rps, cpu = measure_variants(
        {name: VARIANTS[name] for name in args.variants},
        route,
        rounds=args.rounds,
        seconds=args.seconds,
        connections=args.connections,
    )
    hand = statistics.median(rps["hand"])
    hand_cpu = statistics.median(cpu["hand"])
    rows = [
        [
            name,
            f"{statistics.median(v):,.0f}",
            f"{statistics.median(v) / hand:.2f}x",
            f"{statistics.median(cpu[name]):.1f}",
            f"{hand_cpu / statistics.median(cpu[name]):.2f}x",
        ]
        for name, v in rps.items()
    ]
    print(
        f"route {route}; load average {load_start:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end; {args.rounds} rounds of {args.seconds}s, "
        f"{args.connections} connections"
    )
    header = ["variant", "rps (median)", "x hand", "CPU µs/request", "hand CPU / variant"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
