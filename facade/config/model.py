"""routes.yaml: the schema, the loader and its errors (``PATH:LINE: message``).

This is the one facade module other packages may import (the monolith's seams and the CLI read
routes.yaml through it), so it has no runtime imports beyond pydantic, ruamel.yaml and PyYAML: no
aiohttp, no I/O except reading the file it is given.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, cast
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.resolver import VersionedResolver
from yaml import YAMLError as PyYamlError

from facade.config import yaml_tree
from facade.config.endpoints import Inventory, parse_inventory
from facade.config.errors import QUOTE_LIMIT, ConfigError, Problem, cut, quoted
from facade.config.matching import Matcher, Route, RouteConflict, TemplateError, parse_template
from facade.config.units import parse_duration, parse_percent, parse_size

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
        raise ValueError(
            f"expected an http(s) URL such as http://127.0.0.1:8000, got {quoted(url)}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(
            f"an upstream URL carries no query, fragment or credentials: {quoted(url)}"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"bad port in {quoted(url)}") from None
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
    # the monolith's endpoint inventory (``manage.py strangler_endpoints`` writes it), relative
    # to routes.yaml: traffic per endpoint, the migration map, ``strangler plan`` and ``retire``
    endpoints: str | None = None

    @field_validator("health_path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"health_path must start with '/', got {quoted(value)}")
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
                raise ValueError(
                    f"{quoted(method)} is not an HTTP method (write it in capitals: GET)"
                )
        return value


class Canary(_Model):
    percent: Percent = 0.0
    sticky: str = "client_ip"

    @field_validator("sticky")
    @classmethod
    def _sticky(cls, value: str) -> str:
        if not _STICKY.match(value):
            raise ValueError(
                f"sticky must be header:NAME, cookie:NAME or client_ip, got {quoted(value)}"
            )
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
                raise ValueError(
                    f"ignore entries are JSON paths starting with '$', got {quoted(path)}"
                )
        return value


class Promote(_Model):
    min_comparisons: int = Field(default=500, ge=1)
    max_mismatch_rate: float = Field(default=0.001, ge=0, le=1)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    window: Duration = 86400.0
    # `strangler canary` up to this percent needs no evidence; above it, the gate applies
    ungated_canary_percent: Percent = 10.0
    # with data.sync: cutover refuses while a relay's lag (its oldest unapplied change) is above
    max_sync_lag: Duration = 5.0


_PLUGIN_SPEC = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$", re.ASCII)


def _plugin_spec(value: str) -> str:
    if not _PLUGIN_SPEC.match(value):
        raise ValueError(f"{quoted(value)} is not a plugin named as pkg.module:name")
    return value


PluginSpec = Annotated[str, AfterValidator(_plugin_spec)]


class SyncBack(_Model):
    """The way back: the service's own changes carried into the monolith's tables."""

    aggregate: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # its outbox's aggregatetype
    # -> the SQLAlchemy URL (str) of the service's database, which holds its outbox
    outbox: PluginSpec  # e.g. extracted.inventory.data:outbox_url
    source: PluginSpec  # a SyncSource over the service's rows, e.g. extracted.inventory.data:stock
    # service row -> legacy row, e.g. acl.inventory_rows:stock_row_to_legacy
    translate: PluginSpec
    target: PluginSpec  # a SyncTarget over the monolith's tables


class DataSync(_Model):
    """`strangler data capture|sync|status CAP`: the monolith's changes followed while both run."""

    # -> strangler_sync.Capture(spec, url): which tables, and the database holding them
    capture: PluginSpec  # e.g. legacy_monolith.data:product_capture
    # which path parameter of the capability's routes names the key (the report's stale flag)
    key_param: str | None = None
    retention: Duration = 86400.0  # applied outbox rows are pruned after this
    batch_size: int | None = Field(default=None, ge=1, le=100_000)  # default: data.batch_size
    back: SyncBack | None = None


class DataMove(_Model):
    """How `strangler data copy|verify` moves a capability's rows (plugins named module:attr)."""

    # each names a plugin as pkg.module:name; loaded only by the data verbs
    source: PluginSpec  # e.g. legacy_monolith.data:products
    # legacy row -> service row, e.g. acl.catalog_rows:product_row_from_legacy
    translate: PluginSpec
    target: PluginSpec  # e.g. extracted.catalog.data:products
    batch_size: int = Field(default=500, ge=1, le=100_000)
    sync: DataSync | None = None


class Capability(_Model):
    match: tuple[MatchRule, ...] = Field(min_length=1)
    mode: Mode = "legacy"
    service: str | None = None
    translator: str | None = None
    canary: Canary = Canary()
    fallback: Literal["legacy", "error"] = "legacy"
    # unsafe methods (POST, PUT, PATCH, DELETE) refused by the service's breaker or bulkhead, or
    # not connected: legacy = the monolith serves them; error = 503 + Retry-After.
    # None = legacy before cutover (the monolith still owns the data), error once extracted
    fallback_unsafe: Literal["legacy", "error"] | None = None
    shadow: Shadow = Shadow()
    compare: Compare = Compare()
    promote: Promote = Promote()
    max_body: Size | None = None  # default: limits.max_body
    data: DataMove | None = None
    # `strangler retire`: the migration is over; the service alone serves it, with no fallback
    # and no way back; its monolith endpoints are deletable (the map says which)
    retired: bool = False

    @model_validator(mode="after")
    def _service_needed(self) -> Capability:
        if self.mode != "legacy" and self.service is None:
            raise ValueError(f"mode {quoted(self.mode)} needs a 'service' to send requests to")
        if self.retired and (self.mode != "extracted" or self.fallback != "error"):
            raise ValueError(
                "a retired capability is served by its service alone: it needs mode: extracted "
                "and fallback: error (remove 'retired: true' to move it back, an audited edit)"
            )
        return self

    @field_validator("fallback_unsafe")
    @classmethod
    def _narrows(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value == "legacy" and info.data.get("fallback") == "error":
            raise ValueError("legacy needs fallback: legacy (fallback_unsafe only narrows it)")
        return value

    @property
    def unsafe_falls_back(self) -> bool:
        """May a write the service never received go to the monolith instead?

        After cutover the service's database is the one of record: a write moved to the
        monolith's lands in the wrong place, and anyone able to open the breaker or fill the
        bulkhead (slow uploads, a burst) could steer writes there. So only when said.
        """
        if self.fallback != "legacy":
            return False
        if self.fallback_unsafe is not None:
            return self.fallback_unsafe == "legacy"
        return self.mode != "extracted"


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


def listen_address(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as (host, port); ValueError naming the value."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""  # an IPv6 address must be bracketed, or its last group reads as the port
    if not sep or not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"expected HOST:PORT such as 127.0.0.1:8090 or [::1]:8090, got {quoted(value)}"
        )
    return host, int(port)


class Admin(_Model):
    # a second listener serving only the reserved paths (/healthz, /readyz, /metrics), for
    # probes and scrapers on an address clients cannot reach; None: none (the main listener
    # answers those paths either way)
    listen: str | None = None
    token_env: str = "STRANGLER_ADMIN_TOKEN"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)
        return value


class Forwarded(_Model):
    trusted_hops: int = Field(default=0, ge=0, le=16)


class Limits(_Model):
    max_body: Size = 10 * 1024**2
    # resolve: /a/../b is served as /b; reject: any dot segment answers 400
    dot_segments: Literal["resolve", "reject"] = "resolve"
    # client connections (docs/resilience.md, "Client connections and signals"): a request's
    # headers must arrive in full within header_timeout of the connection or of the request's
    # first byte; an idle keep-alive connection is closed after keepalive_timeout (nginx's 75s)
    header_timeout: Duration = Field(default=10.0, gt=0)
    keepalive_timeout: Duration = Field(default=75.0, gt=0)
    # per process; None: min(10000, 3/8 of the open-file limit minus the descriptors kept for
    # upstream connections: a served connection may hold a spooled body's file too, and the
    # last quarter is for connections over the cap). Over it a connection gets one answer
    # (503, or a probe) and closes
    max_client_connections: int | None = Field(default=None, ge=1)
    # request bodies are read whole before an upstream is held: in memory up to body_buffer,
    # in a temporary file beyond; no byte for body_idle_timeout, or not all within
    # body_deadline: 408
    body_buffer: Size = Field(default=64 * 1024, ge=0)
    body_idle_timeout: Duration = Field(default=15.0, gt=0)
    body_deadline: Duration = Field(default=60.0, gt=0)
    # bytes in temporary files for bodies, all requests of a process together: past it 503
    body_spool_max: Size = Field(default=1024**3, ge=0)


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


# weakref_slot: what the facade derives from a Config lives exactly as long as it (derived.py)
@dataclass(frozen=True, slots=True, weakref_slot=True)
class Config:
    """A validated routes.yaml with its compiled matcher: immutable, swapped whole on reload."""

    source: Path
    routes: RoutesFile
    matcher: Matcher
    digest: str  # sha256 of the file's bytes: tells a real change from a touch
    # legacy.endpoints, read with the file (None: not named, or it cannot be used)
    inventory: Inventory | None = None
    # why legacy.endpoints' inventory cannot be used (``PATH:LINE: message`` lines), or None.
    # A warning, never an error of the configuration: a reporting file must not block a
    # rollback, an edit or a reload; ``validate``, ``map``, ``plan`` and ``retire`` refuse it
    inventory_problem: str | None = None

    @property
    def fingerprint(self) -> tuple[str, str | None, str | None]:
        """What tells a real change from a touch: the file's digest, its inventory's, and the
        inventory's problem (an edit of the inventory alone is a change too)."""
        inventory = self.inventory.digest if self.inventory is not None else None
        return self.digest, inventory, self.inventory_problem

    def edited_since_load(self) -> bool:
        """Whether routes.yaml's bytes now differ from those this was loaded from.

        A watcher's first stamp is taken after the load, seconds later on a large file or a
        slow start: an edit saved in between would become its baseline and never be loaded,
        so a watcher asks this once when it starts. A file that cannot be read now counts as
        edited: the reload it triggers says why.
        """
        try:
            data = read_routes(self.source)
        except ConfigError:
            return True
        return hashlib.sha256(data).hexdigest() != self.digest

    def inventory_path(self) -> Path | None:
        """Where ``legacy.endpoints`` is (relative to routes.yaml), or None: not named."""
        return _inventory_path(self.routes, self.source)

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
    """Read and validate a routes file; raise ConfigError listing every problem found.

    The one loader of every reader (``serve``'s start check and reloads, ``validate``, the edit
    verbs, the monolith's seams), so each is bounded the same way (see ``read_routes``).
    """
    source = Path(path)
    data = read_routes(source)
    with _collector_paused():
        routes, matcher = parse(
            data.decode("utf-8", "replace"), source=str(source), extra_check=extra_check
        )
        inventory, problem = inventory_of(routes, source, data)
    digest = hashlib.sha256(data).hexdigest()
    return Config(source.resolve(), routes, matcher, digest, inventory, problem)


def inventory_of(
    routes: RoutesFile, source: Path, data: bytes
) -> tuple[Inventory | None, str | None]:
    """``read_inventory``, its problem given as text (``PATH:LINE: message`` lines) rather
    than raised: the inventory only reports, so what is wrong with it never stops a load."""
    try:
        return read_inventory(routes, source, data), None
    except ConfigError as exc:
        return None, str(exc)


def _inventory_path(routes: RoutesFile, source: Path) -> Path | None:
    if routes.legacy.endpoints is None:
        return None
    path = Path(routes.legacy.endpoints).expanduser()
    return path if path.is_absolute() else source.resolve().parent / path


def read_inventory(routes: RoutesFile, source: Path, data: bytes) -> Inventory | None:
    """``legacy.endpoints``'s inventory, relative to routes.yaml; a file that cannot be read
    is reported at routes.yaml's line, one that is wrong at its own (``ConfigError``)."""
    path = _inventory_path(routes, source)
    if path is None:
        return None
    if not path.exists():  # a stat: a FIFO or a device is refused by read_bounded, unopened
        tree = _read_yaml(data.decode("utf-8", "replace"), str(source))
        raise ConfigError(
            [
                Problem(
                    str(source),
                    line_of(tree, ("legacy", "endpoints")),
                    f"legacy.endpoints: no file {quoted(str(path))} (write it with "
                    "`manage.py strangler_endpoints --output FILE`)",
                )
            ]
        )
    limit = max_bytes(str(path), INVENTORY_MAX_BYTES_ENV, DEFAULT_INVENTORY_MAX_BYTES)
    raw = read_bounded(path, limit, INVENTORY_MAX_BYTES_ENV, "the endpoint inventory")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([Problem(str(path), 1, "the endpoint inventory is not UTF-8")]) from None
    return parse_inventory(text, source=str(path))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No automatic garbage collection while a file is parsed and validated.

    A parse allocates a few hundred thousand containers, none of them in a reference cycle,
    and the collector's passes over them, each longer as the heap grows, were 40-60% of a
    load (3,000 capabilities: 1.1 s -> 0.45 s of CPU; 10,000: 3.5 s -> 1.5 s). What the
    parse throws away is freed by reference counting all the same. A reload already runs
    with the collector off (``facade.reload``): then this leaves it off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# The limit on routes.yaml's size comes from the environment, not from the file: a file cannot
# be trusted to bound its own reading. The environment reaches every process that reads it
# (serve and its workers, validate, the edit verbs, the monolith's seams) with no option to
# pass through each of them.
MAX_BYTES_ENV = "STRANGLER_ROUTES_MAX_BYTES"
DEFAULT_MAX_BYTES = 4 * 1024**2
# YAML values (scalars, lists, mappings, keys), aliases expanded: at most one per this many
# bytes of the size limit (262,144 for 4 MiB). An alias bomb expands to billions. Real files
# hold about one value per 8 bytes (3,000 capabilities: 81,019 values in 621 KiB), so this
# bound, not the size, limits a legitimate file: about 9,700 capabilities by default
# (1-2 s to load with libyaml, 20-40 s with the pure-Python loader: facade.reload's time
# limit is set to fit). It is
# not looser because pydantic holds the GIL while it validates and lists errors: this bounds
# how long a reload's validation can stall the event loop.
BYTES_PER_NODE = 16
# nesting deeper than any routes.yaml needs (it uses 7 levels); the YAML composer recurses
MAX_DEPTH = 64


# The endpoint inventory (legacy.endpoints) is read the same bounded way, with its own limit:
# one line an endpoint, a few hundred bytes each (the demo shop's: 17 KiB for 60 endpoints).
INVENTORY_MAX_BYTES_ENV = "STRANGLER_INVENTORY_MAX_BYTES"
DEFAULT_INVENTORY_MAX_BYTES = 16 * 1024**2


def max_bytes(source: str, env: str = MAX_BYTES_ENV, default: int = DEFAULT_MAX_BYTES) -> int:
    """The size limit: ``$STRANGLER_ROUTES_MAX_BYTES`` (4MB, 8MiB, bytes) or 4 MiB (``env``
    and ``default`` name another file's)."""
    raw = os.environ.get(env)
    if raw is None:
        return default
    try:
        limit = parse_size(raw)
    except ValueError as exc:
        raise ConfigError([Problem(source, 1, f"${env}: {exc}")]) from None
    if limit <= 0:
        raise ConfigError([Problem(source, 1, f"${env} must be positive")])
    return limit


def read_routes(source: Path) -> bytes:
    """The bytes of a routes file, refused (``ConfigError``, ``PATH:1``) unless it is a regular
    file (a symlink to one is fine) of at most ``max_bytes`` bytes (``read_bounded``)."""
    return read_bounded(source, max_bytes(str(source)), MAX_BYTES_ENV, "routes.yaml")


def read_bounded(source: Path, limit: int, env: str, what: str) -> bytes:
    """The bytes of a file, refused (``ConfigError``, ``PATH:1``) unless it is a regular
    file (a symlink to one is fine) of at most ``limit`` bytes (``$env`` sets it; ``what``
    names the file in the refusal).

    A FIFO, a device or a socket is refused from ``stat`` alone, never opened for reading: a
    FIFO would block the reader until a writer came, ``/dev/zero`` never ends. The file is
    opened non-blocking and checked again with ``fstat`` (it may have been swapped since the
    ``stat``), and never more than limit + 1 bytes are read (it may grow meanwhile).
    """
    where = str(source)

    def refuse(message: str) -> ConfigError:
        return ConfigError([Problem(where, 1, message)])

    try:
        _check_file(os.stat(source), source, limit, env, what)  # follows a symlink to its target
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(f"cannot read the file: {exc.strerror}") from None
    except _Refused as exc:
        raise refuse(str(exc)) from None
    try:
        _check_file(os.fstat(fd), source, limit, env, what)
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(fd, min(1024**2, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise refuse(f"cannot read the file: {exc.strerror}") from None
    except _Refused as exc:
        raise refuse(str(exc)) from None
    finally:
        os.close(fd)
    if size > limit:
        raise refuse(f"the file grew past the size limit of {_size(limit)} while being read")
    return b"".join(chunks)


class _Refused(Exception):
    """The file, or its YAML, is beyond a bound; ``line`` is 1-based."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_file(st: os.stat_result, source: Path, limit: int, env: str, what: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a file")
        real = os.path.realpath(source)
        via = f" ({quoted(real)} through a symlink)" if real != os.path.abspath(source) else ""
        raise _Refused(
            f"not a regular file: {kind}{via}; refused without reading it ({what} must "
            "be a regular file or a symlink to one)"
        )
    if st.st_size > limit:
        raise _Refused(
            f"the file is {_size(st.st_size)}, over the size limit of {_size(limit)}; "
            f"refused without parsing it (${env} sets the limit)"
        )


def _size(n: int) -> str:
    return f"{n / 1024**2:.1f} MiB" if n >= 1024**2 else f"{n:,} bytes"


def parse(
    text: str, *, source: str = "routes.yaml", extra_check: ExtraCheck | None = None
) -> tuple[RoutesFile, Matcher]:
    """Validate routes.yaml text; every error names ``source`` and a 1-based line."""
    tree = _read_yaml(text, source)
    try:
        routes = RoutesFile.model_validate(tree)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # a list whose items all failed also reports "too short": say only what is wrong inside
        deeper = {tuple(e["loc"][:-2]) for e in errors if len(e["loc"]) >= 2}
        errors = [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in deeper)]
        # pydantic lists errors in the file's order, near enough: locate only those shown
        shown = [_problem(source, tree, err) for err in errors[: MAX_PROBLEMS + 1]]
        raise _at_most(MAX_PROBLEMS, shown, total=len(errors)) from None
    problems = _cross_check(routes, tree, source)
    if extra_check is not None:
        problems += [
            Problem(source, line_of(tree, loc), f"{_dotted(loc)}: {cut(message, 300)}")
            for loc, message in extra_check(routes)
        ]
    matcher: Matcher | None = None
    if not problems:
        try:
            matcher = Matcher(_routes_of(routes, tree))
        except RouteConflict as exc:
            problems.append(Problem(source, exc.second.line, str(exc)))
    if problems or matcher is None:
        raise _at_most(MAX_PROBLEMS, problems)
    return routes, matcher


class _BoundedComposer(Composer):
    """ruamel's composer, refusing a document that is too deep or, aliases expanded, too big.

    An alias (``*name``) is one node in the composed graph but as many values as its anchor
    holds for everything that walks the result (pydantic, an error message): nine levels of
    ten aliases each ("billion laughs") are 10**9 values from a few hundred bytes. Each alias
    counts the expanded size of its anchor, known once the anchor is composed; an alias to a
    node still being composed (a cycle) is refused outright.
    """

    def __init__(self, loader: Any = None, *, max_nodes: int) -> None:
        super().__init__(loader=loader)
        self._max_nodes = max_nodes
        self._nodes = 0  # values so far, aliases expanded
        self._depth = 0  # nesting of the node being composed, aliases expanded
        self._deepest = 0
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            anchored = self.anchors.get(event.anchor)
            if anchored is not None:  # else ruamel reports the undefined alias
                if id(anchored) not in self._sizes:
                    raise _Refused(
                        f"alias *{quoted(event.anchor)} refers to a node that contains it",
                        event.start_mark.line + 1,
                    )
                nodes, height = self._sizes[id(anchored)]
                self._count(nodes, self._depth + height, event)
            return super().compose_node(parent, index)
        self._depth += 1
        self._count(1, self._depth, event)
        before, deepest = self._nodes, self._deepest
        self._deepest = self._depth
        node = super().compose_node(parent, index)
        self._sizes[id(node)] = (self._nodes - before, self._deepest - self._depth + 1)
        self._deepest = max(deepest, self._deepest)
        self._depth -= 1
        return node

    def _count(self, nodes: int, depth: int, event: Any) -> None:
        self._nodes += nodes
        self._deepest = max(self._deepest, depth)
        if depth > MAX_DEPTH or self._nodes > self._max_nodes:
            _refuse_over(self._nodes, depth, event, self._max_nodes)


def _refuse_over(nodes: int, depth: int, event: Any, max_nodes: int) -> NoReturn:
    """The refusal of a file ``nodes`` values and ``depth`` levels deep at ``event``."""
    line = event.start_mark.line + 1
    alias = isinstance(event, AliasEvent)
    if depth > MAX_DEPTH:
        raise _Refused(
            f"values nested more than {MAX_DEPTH} levels deep"
            + (" (aliases expanded)" if alias else ""),
            line,
        )
    if alias:
        raise _Refused(
            f"alias *{quoted(event.anchor)} expands the file past {max_nodes:,} "
            "values (an alias bomb?); refused without expanding it",
            line,
        )
    raise _Refused(
        f"the file holds more than {max_nodes:,} values (one per "
        f"{BYTES_PER_NODE} bytes of the size limit; ${MAX_BYTES_ENV} sets it)",
        line,
    )


class _Yaml12Resolver(VersionedResolver):
    """YAML 1.2, as ruamel's round-trip loader reads a file without a ``%YAML`` directive
    (``_fast_tree`` leaves those to it). Two costs of ruamel's, per value, avoided: working
    the version out again, and a new ``Tag`` whose text is decoded again at each use."""

    def __init__(self, loadumper: Any) -> None:
        super().__init__(loadumper=loadumper)
        self._tags: dict[Any, Any] = {}

    @property
    def processing_version(self) -> Any:
        return (1, 2)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)
        if tag.handle is not None:
            return tag
        return self._tags.setdefault(tag.suffix, tag)


class _FastComposer(_BoundedComposer):
    """``_BoundedComposer`` holding its parser and resolver: ruamel's composer looks them up
    through two properties on each of its half a million uses for 3,000 capabilities."""

    parser: Any = None  # plain attributes, in place of Composer's properties
    resolver: Any = None

    def __init__(self, loader: Any, *, max_nodes: int) -> None:
        super().__init__(loader, max_nodes=max_nodes)
        self.parser = loader._parser
        self.resolver = loader._resolver

    def compose_node(self, parent: Any, index: Any) -> Any:
        if getattr(self.parser.peek_event(), "tag", None) is not None:
            # libyaml hands over tags resolved ("!!str 1" reads as a plain string, where
            # ruamel's scanner makes a TaggedScalar): the pure-Python loader reads the file
            raise yaml_tree.Unsupported("a tag")
        return super().compose_node(parent, index)


class _FastLoader:
    """libyaml's scanner and parser (C: PyYAML's binding), the tree built from its events by
    ``yaml_tree.build``; a file holding what that leaves to ruamel (an anchor, an alias, a
    merge key) is parsed again by ruamel.yaml.clib's libyaml under ruamel's own composer,
    bounded (``_BoundedComposer``), and round-trip constructor. Either way the tree, values and
    lines of ``YAML(typ="rt")`` (3,000 capabilities: 7.6-12 s with the pure-Python loader,
    0.3 s of CPU here). libyaml's own composer is never used: it recurses in C on each level,
    and a deep file crashes the process."""

    comment_handling = None  # what ruamel's constructor asks its loader

    def __init__(self, text: str, *, max_nodes: int) -> None:
        self._text = text
        self._max_nodes = max_nodes
        # ruamel's parser and composer, for a file the builder leaves to them (libyaml reads
        # nothing until the composer asks)
        self._parser = None if _RuamelCParser is None else _RuamelCParser(text)
        self._resolver = _Yaml12Resolver(loadumper=self)
        self._composer = _FastComposer(self, max_nodes=max_nodes)
        self._constructor = RoundTripConstructor(loader=self)

    def load(self) -> Any:
        """The tree built from libyaml's events (``yaml_tree``), or else by ruamel's composer
        and constructor from the events of a second parse (``Unsupported`` without
        ruamel.yaml.clib: the pure-Python loader reads it)."""
        try:
            return yaml_tree.build(
                _CParser(self._text),
                self._resolver,
                self._constructor,
                max_nodes=self._max_nodes,
                max_depth=MAX_DEPTH,
                over=functools.partial(_refuse_over, max_nodes=self._max_nodes),
            )
        except yaml_tree.Unsupported:
            if self._parser is None:
                raise
        node = self._composer.get_single_node()
        return None if node is None else self._constructor.construct_document(node)


_CParser: Any  # PyYAML's libyaml parser: the builder's events
_RuamelCParser: Any  # ruamel.yaml.clib's: events for ruamel's composer
# PyYAML's own errors (a syntax error found by its libyaml): the pure-Python loader reports it
_LibyamlError: type[Exception] = PyYamlError
try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # PyYAML without its C extension: the pure-Python loader alone
    _CParser = None
try:
    from ruamel.yaml import cyaml

    _RuamelCParser = getattr(cyaml, "CParser", None)
except ImportError:
    _RuamelCParser = None
_DIRECTIVE = re.compile(r"^%", re.MULTILINE)


def _fast_tree(text: str, max_nodes: int) -> tuple[bool, Any]:
    """``(True, tree)`` read with ``_FastLoader``; ``(False, None)`` when it cannot say: no C
    parser, a ``%`` directive, a tag, or anything wrong with the file, which the pure-Python loader
    then reports in its own words (a refusal by the bounds is the same either way)."""
    if _CParser is None or _DIRECTIVE.search(text):
        return False, None
    try:
        return True, _FastLoader(text, max_nodes=max_nodes).load()
    except _Refused:
        raise
    except (YAMLError, _LibyamlError, ValueError, RecursionError, yaml_tree.Unsupported):
        return False, None


def _read_yaml(text: str, source: str) -> dict[Any, Any]:
    yaml = YAML(typ="rt")
    max_nodes = max(1, max_bytes(source) // BYTES_PER_NODE)
    # ruamel builds its composer as ``Composer(loader=...)``: a partial passes the bound
    yaml.Composer = cast("type[Composer]", functools.partial(_BoundedComposer, max_nodes=max_nodes))
    try:
        fast, tree = _fast_tree(text, max_nodes)
        if not fast:
            tree = yaml.load(text)
    except _Refused as exc:
        raise ConfigError([Problem(source, exc.line, str(exc))]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if "flow mapping" in message and "{" in text:
            message += ' (quote path templates: path: "/api/products/{sku}")'
        raise ConfigError(
            [Problem(source, line, f"YAML syntax error: {cut(message, 300)}")]
        ) from None
    except YAMLError as exc:
        raise ConfigError([Problem(source, 1, f"YAML error: {cut(str(exc), 300)}")]) from None
    except ValueError as exc:  # e.g. an integer of over 4,300 digits
        raise ConfigError([Problem(source, 1, f"YAML error: {cut(str(exc), 300)}")]) from None
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
    if not isinstance(tree, dict):  # a CommentedMap, or a yaml_tree.YamlMap
        raise ConfigError([Problem(source, 1, "the top level must be a mapping of keys")])
    return tree


# problems listed in one error: a file of a million bad values is reported in 50 lines
# (the log, /readyz and the terminal get every problem's text)
MAX_PROBLEMS = 50


def _at_most(limit: int, problems: list[Problem], *, total: int | None = None) -> ConfigError:
    total = len(problems) if total is None else total
    if total <= limit:
        return ConfigError(problems)
    first = sorted(problems, key=lambda p: p.line)[:limit]
    more = Problem(first[-1].path, first[-1].line, f"... and {total - limit:,} more problems")
    return ConfigError([*first, more])


def _dotted(loc: Sequence[str | int]) -> str:
    # a key can be any length: each part is cut as a quoted value is
    return ".".join(cut(str(p), QUOTE_LIMIT) for p in loc)


def _problem(source: str, tree: dict[Any, Any], error: Mapping[str, Any]) -> Problem:
    loc: Sequence[str | int] = error["loc"]
    where = _dotted(loc) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown key {quoted(loc[-1])}"
        where = _dotted(loc[:-1]) or "top level"
        return Problem(source, line_of(tree, loc), f"{message} in {where}")
    if error["type"] == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return Problem(
            source,
            line_of(tree, loc),
            f"{where}: {quoted(error['input'])} is not one of {expected}",
        )
    if error["type"] == "missing":
        return Problem(source, line_of(tree, loc), f"{where} is required")
    return Problem(source, line_of(tree, loc), f"{where}: {message}")


def line_of(tree: Any, loc: Sequence[str | int], line: int = 1) -> int:
    """The 1-based line of the deepest node of ``loc`` that exists in the YAML tree (``line``
    if none does)."""
    return line_of_node(tree, loc, line)[0]


def line_of_node(tree: Any, loc: Sequence[str | int], line: int = 1) -> tuple[int, Any]:
    """``line_of``, and the deepest node of ``loc`` that exists."""
    node: Any = tree
    for key in loc:
        # a CommentedMap or CommentedSeq (ruamel's loaders), or a yaml_tree.YamlMap or YamlSeq
        if isinstance(node, dict) and key in node:
            line = cast(Any, node).lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            line = cast(Any, node).lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line, node


def _cross_check(routes: RoutesFile, tree: dict[Any, Any], source: str) -> list[Problem]:
    problems = []
    for name, cap in routes.capabilities.items():
        if cap.service is not None and cap.service not in routes.services:
            known = ", ".join(sorted(routes.services)) or "none defined"
            problems.append(
                Problem(
                    source,
                    line_of(tree, ("capabilities", name, "service")),
                    f"capability {quoted(name)} names service {quoted(cap.service)}, which is "
                    f"not under 'services:' (known: {known})",
                )
            )
    for name, seam in routes.seams.items():
        if seam.service is not None and seam.service not in routes.services:
            known = ", ".join(sorted(routes.services)) or "none defined"
            problems.append(
                Problem(
                    source,
                    line_of(tree, ("seams", name, "service")),
                    f"seam {quoted(name)} names service {quoted(seam.service)}, which is not "
                    f"under 'services:' (known: {known})",
                )
            )
    return problems


def _routes_of(routes: RoutesFile, tree: dict[Any, Any]) -> list[Route]:
    found = []
    # the walk from the top once, and once per capability, not once per route
    capabilities = line_of_node(tree, ("capabilities",))
    for name, cap in routes.capabilities.items():
        matches = line_of_node(capabilities[1], (name, "match"), capabilities[0])
        for i, rule in enumerate(cap.match):
            found.append(
                Route(
                    capability=name,
                    template=rule.path,
                    methods=frozenset(rule.methods) if rule.methods is not None else None,
                    line=line_of(matches[1], (i,), matches[0]),
                )
            )
    return found
