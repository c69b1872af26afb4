"""routes.yaml: the schema, the loader and its errors (``PATH:LINE: message``).

This is the one facade module other packages may import (the monolith's seams and the CLI read
routes.yaml through it), so it has no runtime imports beyond pydantic and ruamel.yaml: no
aiohttp, no I/O except reading the file it is given.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from facade.errors import ConfigError, Problem
from facade.matching import Matcher, Route, RouteConflict, TemplateError, parse_template
from facade.units import parse_duration, parse_percent, parse_size

Mode = Literal["legacy", "shadow", "canary", "extracted"]
MODES: tuple[Mode, ...] = ("legacy", "shadow", "canary", "extracted")
Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Percent = Annotated[float, BeforeValidator(parse_percent)]
_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
_METHOD = re.compile(r"^[A-Z]+$")
_STICKY = re.compile(r"^(header:[A-Za-z0-9-]+|cookie:[A-Za-z0-9_.-]+|client_ip)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_upstream_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL such as http://127.0.0.1:8000, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"an upstream URL carries no query, fragment or credentials: {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    return url.rstrip("/")


UpstreamUrl = Annotated[str, AfterValidator(_check_upstream_url)]


class Legacy(_Model):
    """The monolith: every request that matches no capability goes here."""

    url: UpstreamUrl
    timeout: Duration = 30.0
    connect_timeout: Duration = 5.0
    # readiness probe; None = a TCP connect to the monolith is enough
    health_path: str | None = None
    max_connections: int = Field(default=256, ge=1)

    @field_validator("health_path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"health_path must start with '/', got {value!r}")
        return value


class CircuitBreaker(_Model):
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=20, ge=1)
    open_for: Duration = 30.0


class Service(_Model):
    url: UpstreamUrl
    timeout: Duration = 2.0  # per attempt
    connect_timeout: Duration = 1.0
    # the whole call, retries and backoff included; None = timeout x (retries + 1)
    deadline: Duration | None = None
    retries: int = Field(default=0, ge=0, le=10)  # idempotent methods only
    backoff: Duration = 0.05  # base of the exponential backoff (full jitter)
    # retries may add at most this share of extra calls (over a sliding window), so a failing
    # service is not hammered with retry storms
    retry_budget: float = Field(default=0.2, ge=0, le=1)
    max_concurrency: int = Field(default=64, ge=1)  # bulkhead
    circuit_breaker: CircuitBreaker = CircuitBreaker()


class MatchRule(_Model):
    path: str
    methods: tuple[str, ...] | None = None  # omitted: any method

    @field_validator("path")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            parse_template(value)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("methods cannot be empty; omit the key to match every method")
        for method in value:
            if not _METHOD.match(method):
                raise ValueError(f"{method!r} is not an HTTP method (write it in capitals: GET)")
        return value


class Canary(_Model):
    percent: Percent = 0.0
    sticky: str = "client_ip"

    @field_validator("sticky")
    @classmethod
    def _sticky(cls, value: str) -> str:
        if not _STICKY.match(value):
            raise ValueError(f"sticky must be header:NAME, cookie:NAME or client_ip, got {value!r}")
        return value


class Shadow(_Model):
    percent: Percent = 100.0
    unsafe_methods: Literal["skip", "send"] = "skip"
    timeout: Duration | None = None  # default: the service's timeout


class Compare(_Model):
    ignore: tuple[str, ...] = ()
    ignore_headers: tuple[str, ...] = ("date", "server")
    noise: Literal["auto", "off"] = "auto"
    # share of shadowed safe requests sent to the monolith twice, to learn its noisy fields
    noise_sample: Percent = 10.0

    @field_validator("ignore")
    @classmethod
    def _json_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("$"):
                raise ValueError(f"ignore entries are JSON paths starting with '$', got {path!r}")
        return value


class Promote(_Model):
    min_comparisons: int = Field(default=500, ge=1)
    max_mismatch_rate: float = Field(default=0.001, ge=0, le=1)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    window: Duration = 86400.0
    # `strangler canary` up to this percent needs no evidence; above it, the gate applies
    ungated_canary_percent: Percent = 10.0


_PLUGIN_SPEC = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$", re.ASCII)


def _plugin_spec(value: str) -> str:
    if not _PLUGIN_SPEC.match(value):
        raise ValueError(f"{value!r} is not a plugin named as pkg.module:name")
    return value


PluginSpec = Annotated[str, AfterValidator(_plugin_spec)]


class DataMove(_Model):
    """How `strangler data copy|verify` moves a capability's rows (plugins named module:attr)."""

    # each names a plugin as pkg.module:name; loaded only by the data verbs
    source: PluginSpec  # e.g. legacy_monolith.data:products
    # legacy row -> service row, e.g. acl.catalog_rows:product_row_from_legacy
    translate: PluginSpec
    target: PluginSpec  # e.g. extracted.catalog.data:products
    batch_size: int = Field(default=500, ge=1, le=100_000)


class Capability(_Model):
    match: tuple[MatchRule, ...] = Field(min_length=1)
    mode: Mode = "legacy"
    service: str | None = None
    translator: str | None = None
    canary: Canary = Canary()
    fallback: Literal["legacy", "error"] = "legacy"
    shadow: Shadow = Shadow()
    compare: Compare = Compare()
    promote: Promote = Promote()
    max_body: Size | None = None  # default: limits.max_body
    data: DataMove | None = None

    @model_validator(mode="after")
    def _service_needed(self) -> Capability:
        if self.mode != "legacy" and self.service is None:
            raise ValueError(f"mode {self.mode!r} needs a 'service' to send requests to")
        return self


class Seam(_Model):
    implementation: Literal["legacy", "new", "experiment"] = "legacy"
    # share of calls that take `implementation` (new / experiment); the rest run legacy alone
    percent: Percent = 100.0
    sticky: str | None = None  # a key the seam's call offers (customer, sku): sticky draws
    service: str | None = None  # the extracted service the new implementation calls


class Store(_Model):
    url: str = "sqlite:///.strangler/strangler.db"
    redact: tuple[str, ...] = ("authorization", "cookie", "set-cookie")  # header names
    # JSON body fields and query parameters redacted too, besides the built-in secret names
    # (password, token, code, secret, access_token, api_key, ...)
    redact_fields: tuple[str, ...] = ()
    body_limit: Size = 65536
    retention: Duration = 30 * 86400.0
    # bounded evidence: bodies for the first examples of each mismatch signature per window,
    # counts beyond; each capability's rows take at most max_bytes_per_capability of the store
    examples_per_signature: int = Field(default=5, ge=0, le=10_000)
    example_window: Duration = Field(default=3600.0, gt=0)
    max_bytes_per_capability: Size = 256 * 1024**2


class Admin(_Model):
    listen: str = "127.0.0.1:8090"
    token_env: str = "STRANGLER_ADMIN_TOKEN"


class Forwarded(_Model):
    trusted_hops: int = Field(default=0, ge=0, le=16)


class Limits(_Model):
    max_body: Size = 10 * 1024**2
    # resolve: /a/../b is served as /b; reject: any dot segment answers 400
    dot_segments: Literal["resolve", "reject"] = "resolve"


class RoutesFile(_Model):
    version: Literal[1]
    legacy: Legacy
    services: dict[Annotated[str, Field(pattern=_NAME)], Service] = {}
    capabilities: dict[Annotated[str, Field(pattern=_NAME)], Capability] = {}
    seams: dict[Annotated[str, Field(pattern=_NAME)], Seam] = {}
    store: Store = Store()
    admin: Admin = Admin()
    forwarded: Forwarded = Forwarded()
    limits: Limits = Limits()
    debug_headers: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    """A validated routes.yaml with its compiled matcher: immutable, swapped whole on reload."""

    source: Path
    routes: RoutesFile
    matcher: Matcher
    digest: str  # sha256 of the file's bytes: tells a real change from a touch

    def max_body(self, capability: Capability | None) -> int:
        """The request-body limit: the capability's own, else ``limits.max_body``."""
        if capability is not None and capability.max_body is not None:
            return capability.max_body
        return self.routes.limits.max_body

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def resolve_path(self, relative: str) -> Path:
        """Relative paths in routes.yaml are relative to the file, not the working directory."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    @property
    def store_url(self) -> str:
        url = self.routes.store.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix:
            return prefix + str(self.resolve_path(url[len(prefix) :]))
        return url


def default_routes_path() -> Path:
    return Path(os.environ.get("STRANGLER_ROUTES", "routes.yaml"))


Location = tuple[str | int, ...]
# checks this module cannot make itself (it imports nothing that does I/O or loads plugins):
# the facade passes one that loads the translators the file names
ExtraCheck = Callable[["RoutesFile"], Iterable[tuple[Location, str]]]


def load(path: str | os.PathLike[str], *, extra_check: ExtraCheck | None = None) -> Config:
    """Read and validate a routes file; raise ConfigError listing every problem found."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [Problem(str(source), 1, f"cannot read the file: {exc.strerror}")]
        ) from None
    routes, matcher = parse(
        data.decode("utf-8", "replace"), source=str(source), extra_check=extra_check
    )
    return Config(source.resolve(), routes, matcher, hashlib.sha256(data).hexdigest())


def parse(
    text: str, *, source: str = "routes.yaml", extra_check: ExtraCheck | None = None
) -> tuple[RoutesFile, Matcher]:
    """Validate routes.yaml text; every error names ``source`` and a 1-based line."""
    tree = _read_yaml(text, source)
    try:
        routes = RoutesFile.model_validate(tree)
    except ValidationError as exc:
        errors = exc.errors()
        # a list whose items all failed also reports "too short": say only what is wrong inside
        deeper = {tuple(e["loc"][:-2]) for e in errors if len(e["loc"]) >= 2}
        errors = [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in deeper)]
        raise ConfigError([_problem(source, tree, err) for err in errors]) from None
    problems = _cross_check(routes, tree, source)
    if extra_check is not None:
        problems += [
            Problem(source, line_of(tree, loc), f"{'.'.join(map(str, loc))}: {message}")
            for loc, message in extra_check(routes)
        ]
    matcher: Matcher | None = None
    if not problems:
        try:
            matcher = Matcher(_routes_of(routes, tree))
        except RouteConflict as exc:
            problems.append(Problem(source, exc.second.line, str(exc)))
    if problems or matcher is None:
        raise ConfigError(problems)
    return routes, matcher


def _read_yaml(text: str, source: str) -> CommentedMap:
    yaml = YAML(typ="rt")
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if "flow mapping" in message and "{" in text:
            message += ' (quote path templates: path: "/api/products/{sku}")'
        raise ConfigError([Problem(source, line, f"YAML syntax error: {message}")]) from None
    except YAMLError as exc:
        raise ConfigError([Problem(source, 1, f"YAML error: {exc}")]) from None
    if tree is None:
        raise ConfigError(
            [
                Problem(
                    source,
                    1,
                    "the file is empty; it needs at least 'version: 1' and 'legacy: {url: ...}'",
                )
            ]
        )
    if not isinstance(tree, CommentedMap):
        raise ConfigError([Problem(source, 1, "the top level must be a mapping of keys")])
    return tree


def _problem(source: str, tree: CommentedMap, error: Mapping[str, Any]) -> Problem:
    loc: Sequence[str | int] = error["loc"]
    where = ".".join(str(p) for p in loc) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
        where = ".".join(str(p) for p in loc[:-1]) or "top level"
        return Problem(source, line_of(tree, loc), f"{message} in {where}")
    if error["type"] == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return Problem(
            source, line_of(tree, loc), f"{where}: {error['input']!r} is not one of {expected}"
        )
    if error["type"] == "missing":
        return Problem(source, line_of(tree, loc), f"{where} is required")
    return Problem(source, line_of(tree, loc), f"{where}: {message}")


def line_of(tree: Any, loc: Sequence[str | int]) -> int:
    """The 1-based line of the deepest node of ``loc`` that exists in the YAML tree."""
    line = 1
    node = tree
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line


def _cross_check(routes: RoutesFile, tree: CommentedMap, source: str) -> list[Problem]:
    problems = []
    for name, cap in routes.capabilities.items():
        if cap.service is not None and cap.service not in routes.services:
            known = ", ".join(sorted(routes.services)) or "none defined"
            problems.append(
                Problem(
                    source,
                    line_of(tree, ("capabilities", name, "service")),
                    f"capability {name!r} names service {cap.service!r}, which is not under "
                    f"'services:' (known: {known})",
                )
            )
    for name, seam in routes.seams.items():
        if seam.service is not None and seam.service not in routes.services:
            known = ", ".join(sorted(routes.services)) or "none defined"
            problems.append(
                Problem(
                    source,
                    line_of(tree, ("seams", name, "service")),
                    f"seam {name!r} names service {seam.service!r}, which is not under "
                    f"'services:' (known: {known})",
                )
            )
    return problems


def _routes_of(routes: RoutesFile, tree: CommentedMap) -> list[Route]:
    return [
        Route(
            capability=name,
            template=rule.path,
            methods=frozenset(rule.methods) if rule.methods is not None else None,
            line=line_of(tree, ("capabilities", name, "match", i)),
        )
        for name, cap in routes.capabilities.items()
        for i, rule in enumerate(cap.match)
    ]
