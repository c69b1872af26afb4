"""A golden corpus: a directory of recorded exchanges, each the answer a client once got.

Files: ``*.har`` (HAR 1.2, what this module writes: readable and diffable in review) and
``*.flows`` (mitmproxy flow files, e.g. from ``strangler serve --record``), read by
``parallel_run.replay.read_exchanges``. One case per exchange, in file order, named for a
human: ``product-catalog GET /api/products/SKU-00001``.

Beside them, an optional ``corpus.yaml`` says what is not compared, per capability::

    ignore:               # kept by hand: fields that differ between two seedings of the data
      product-catalog: ["$.products[*].last_upd"]
    noise:                # written on re-recording: differed between two monolith answers
      product-catalog: ["$.generated_at"]

Both add to the capability's ``compare.ignore`` from routes.yaml. Pure but for reading and
writing these files.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from facade.config import Config
from parallel_run.flowfile import TrafficFileError, write_flows
from parallel_run.replay import read_exchanges
from parallel_run.traffic import RecordedExchange, Skipped, header
from regress.errors import CorpusError

SUFFIXES = (".har", ".flows")
MANIFEST = "corpus.yaml"
NO_CAPABILITY = "monolith"  # requests of no capability: the monolith answers them in every mode
# answer headers that change on every call: never written into a golden file
VOLATILE_HEADERS = frozenset(
    {
        "date",
        "server",
        "x-request-id",
        "traceparent",
        "x-strangler-route",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
    }
)


@dataclass(frozen=True, slots=True)
class Case:
    """One recorded exchange of a corpus file (``index`` counts from 1 within its file)."""

    file: Path
    index: int
    id: str
    capability: str
    exchange: RecordedExchange | None
    skip_reason: str | None = None


@dataclass(slots=True)
class Manifest:
    path: Path
    ignore: dict[str, list[str]] = field(default_factory=dict)
    noise: dict[str, list[str]] = field(default_factory=dict)

    def paths_for(self, capability: str) -> tuple[str, ...]:
        """Every JSON path not compared for ``capability`` (its own and ``"*"``'s)."""
        found: list[str] = []
        for table in (self.ignore, self.noise):
            for key in (capability, "*"):
                found.extend(table.get(key, ()))
        return tuple(dict.fromkeys(found))

    def save(self) -> None:
        """Write back; comments and order of a hand-written file are kept."""
        yaml = YAML(typ="rt")
        tree: Any = {}
        if self.path.exists():
            tree = yaml.load(self.path.read_text(encoding="utf-8")) or {}
        for key, table in (("ignore", self.ignore), ("noise", self.noise)):
            if table:
                tree[key] = {cap: sorted(paths) for cap, paths in sorted(table.items())}
            elif key in tree:
                del tree[key]
        buffer = io.StringIO()
        yaml.dump(tree, buffer)
        _write_atomically(self.path, buffer.getvalue().encode())


def load_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    manifest = Manifest(path)
    if not path.exists():
        return manifest
    try:
        tree = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    except (OSError, YAMLError) as exc:
        raise CorpusError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(tree, dict) or set(tree) - {"ignore", "noise"}:
        raise CorpusError(f"{path}: expected a mapping with 'ignore' and/or 'noise' only")
    for key in ("ignore", "noise"):
        table = tree.get(key) or {}
        if not isinstance(table, dict):
            raise CorpusError(f"{path}: {key} maps capability names to lists of JSON paths")
        for capability, paths in table.items():
            if not isinstance(paths, list) or not all(
                isinstance(p, str) and p.startswith("$") for p in paths
            ):
                raise CorpusError(
                    f"{path}: {key}.{capability} must be a list of JSON paths starting with '$'"
                )
            getattr(manifest, key)[str(capability)] = list(paths)
    return manifest


def corpus_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise CorpusError(f"{directory}: no such corpus directory")
    return sorted(p for p in directory.rglob("*") if p.suffix in SUFFIXES and p.is_file())


def capability_of(config: Config, exchange: RecordedExchange) -> str:
    """The capability routes.yaml gives this request, or ``monolith`` for none."""
    match = config.matcher.match(exchange.method.upper(), exchange.path)
    return NO_CAPABILITY if match is None else match.route.capability


def read_cases(path: Path, config: Config) -> list[Case]:
    """The cases of one recording, ids made unique within it (``#2`` for a repeat)."""
    cases: list[Case] = []
    seen: Counter[str] = Counter()
    unanswered = _unanswered_har_requests(path)
    try:
        for item in read_exchanges(path):
            if isinstance(item, Skipped) and item.index in unanswered:
                item = unanswered[item.index]
            if isinstance(item, Skipped):
                name = f"entry {item.index}"
                cases.append(Case(path, item.index, name, NO_CAPABILITY, None, item.reason))
                continue
            capability = capability_of(config, item)
            name = f"{capability} {item.method} {item.target}"
            seen[name] += 1
            if seen[name] > 1:
                name = f"{name} #{seen[name]}"
            skip = None
            if item.response is None:
                skip = "no recorded answer yet (record one with --strangler-update-golden)"
            cases.append(Case(path, len(cases) + 1, name, capability, item, skip))
    except (TrafficFileError, OSError) as exc:
        raise CorpusError(str(exc)) from None
    return cases


def _unanswered_har_requests(path: Path) -> dict[int, RecordedExchange]:
    """HAR entries with a request and no response yet, by index: a corpus starts as a list of
    requests, and re-recording fills in the monolith's answers."""
    if path.suffix != ".har":
        return {}
    try:
        entries = json.loads(path.read_bytes().decode("utf-8-sig"))["log"]["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # read_exchanges says what is wrong with it
    found: dict[int, RecordedExchange] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else [], start=1):
        request = entry.get("request") if isinstance(entry, dict) else None
        if entry.get("response") is not None or not isinstance(request, dict):
            continue
        url = urlsplit(str(request.get("url", "")))
        headers = tuple(
            (str(h["name"]), str(h.get("value", "")))
            for h in request.get("headers", [])
            if isinstance(h, dict) and "name" in h
        )
        body = str((request.get("postData") or {}).get("text") or "").encode()
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        method = str(request.get("method", "GET")).upper()
        found[index] = RecordedExchange(method, target, headers, body, host=url.hostname or "")
    return found


def load_cases(directory: Path, config: Config, *, capability: str | None = None) -> list[Case]:
    """Every case of every recording under ``directory``; ``capability`` keeps only its own."""
    found = [case for path in corpus_files(directory) for case in read_cases(path, config)]
    if capability is not None:
        found = [case for case in found if case.capability == capability]
    return found


# writing --------------------------------------------------------------------------------------


def stable_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in headers if k.lower() not in VOLATILE_HEADERS)


def write_recording(path: Path, exchanges: list[RecordedExchange]) -> None:
    """Write ``exchanges`` in the format the file's suffix names (``.har`` or ``.flows``)."""
    if path.suffix == ".flows":
        temporary = path.with_name(path.name + ".tmp")
        write_flows(temporary, exchanges)
        os.replace(temporary, path)
        return
    _write_atomically(path, har_bytes(exchanges))


def har_bytes(exchanges: Iterable[RecordedExchange]) -> bytes:
    """A HAR 1.2 document: one entry per exchange, keys sorted, two-space indent."""
    entries = [_har_entry(exchange) for exchange in exchanges]
    document = {
        "log": {
            "version": "1.2",
            "creator": {"name": "strangler regress", "version": "1"},
            "entries": entries,
        }
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def _har_entry(exchange: RecordedExchange) -> dict[str, Any]:
    response = exchange.response
    assert response is not None, "only answered exchanges are written"
    started = datetime.fromtimestamp(exchange.started or 0, UTC).isoformat()
    request: dict[str, Any] = {
        "method": exchange.method,
        "url": f"{exchange.scheme}://{exchange.host}{exchange.target}",
        "httpVersion": "HTTP/1.1",
        "headers": _har_headers(exchange.headers),
        "queryString": [],
        "cookies": [],
        "headersSize": -1,
        "bodySize": len(exchange.body),
    }
    if exchange.body:
        request["postData"] = {
            "mimeType": header(exchange.headers, "content-type") or "",
            "text": exchange.body.decode("utf-8", "replace"),
        }
    text = response.body.decode("utf-8", "replace")
    return {
        "startedDateTime": started,
        "time": 0,
        "request": request,
        "response": {
            "status": response.status,
            "statusText": response.reason,
            "httpVersion": "HTTP/1.1",
            "headers": _har_headers(response.headers),
            "cookies": [],
            "content": {
                "size": len(response.body),
                "mimeType": header(response.headers, "content-type") or "",
                "text": text,
            },
            "redirectURL": header(response.headers, "location") or "",
            "headersSize": -1,
            "bodySize": len(response.body),
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
    }


def _har_headers(headers: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def group_by_file(cases: Iterable[Case]) -> Mapping[Path, list[Case]]:
    grouped: dict[Path, list[Case]] = {}
    for case in cases:
        grouped.setdefault(case.file, []).append(case)
    return grouped
