"""Helpers for tests that talk HTTP to the extracted services and the monolith: a plain JSON
call, and a service started as ``python -m extracted.<name>`` on its own SQLite file."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support import processes

Answer = tuple[int, dict[str, str], bytes]


def call(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> Answer:
    """(status, headers, body) of one request; an HTTP error status is an answer too."""
    sent = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(
        url, method=method, data=data, headers={**sent, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def call_json(
    url: str, *, method: str = "GET", body: object | None = None, **options: Any
) -> tuple[int, Any]:
    """(status, parsed JSON body) of one request with an optional JSON body."""
    data = None if body is None else json.dumps(body).encode()
    status, _, raw = call(url, method=method, data=data, **options)
    return status, json.loads(raw) if raw else None


def extracted_service(
    name: str,
    *,
    state_dir: Path,
    log_dir: Path,
    seed_file: Path | None = None,
    db_file: str | None = None,
) -> processes.Running:
    """``python -m extracted.<name>`` on a free port with its own SQLite file in ``state_dir``."""
    port = processes.free_port()
    database = state_dir / (db_file or f"{name}.db")
    argv = [sys.executable, "-m", f"extracted.{name}", "--port", str(port)]
    argv += ["--db", f"sqlite:///{database}"]
    if seed_file is not None:
        argv += ["--seed-from-json", str(seed_file)]
    return processes.start(name, argv, port=port, log_dir=log_dir, ready_path="/healthz")


def catalog_seed(monolith_url: str, path: Path) -> Path:
    """A ``--seed-from-json`` file for the catalog service: every product of the monolith,
    read over its API and put into the service's model through the ACL."""
    from acl.catalog import product_from_legacy, product_to_service

    status, _, body = call(f"{monolith_url}/api/products?per_page=200")
    assert status == 200, body
    products = json.loads(body)["products"]
    items = [product_to_service(product_from_legacy(p)) for p in products]
    path.write_text(json.dumps({"items": items}))
    return path


def inventory_seed(monolith_url: str, path: Path, *, skus: list[str]) -> Path:
    """A ``--seed-from-json`` file for the inventory service: the monolith's stock levels of
    ``skus``, read over its API and put into the service's model through the ACL."""
    from acl.inventory import stock_from_legacy, stock_to_service

    items = []
    for sku in skus:
        status, _, body = call(f"{monolith_url}/api/inventory/{sku}")
        assert status == 200, body
        items.append(stock_to_service(stock_from_legacy(json.loads(body))))
    path.write_text(json.dumps({"items": items}))
    return path


def assert_an_untranslatable_answer_is_a_502(
    tmp_path: Path, *, capability: str, service: str, translator: str, match: str, path: str
) -> None:
    """A facade serving ``capability`` (GET ``match``) from a "service" that only echoes,
    nothing like the service's model, answers ``path`` with a 502 problem naming the field."""
    wrong = processes.echo_upstream(f"not-{service}", log_dir=tmp_path)
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n"
        f"services:\n  {service}: {{url: '{wrong.url}'}}\n"
        f"capabilities:\n  {capability}:\n    service: {service}\n    mode: extracted\n"
        f"    translator: {translator}\n"
        f"    match: [{{methods: [GET], path: '{match}'}}]\n"
    )
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        status, headers, body = call(facade.url + path)
        assert status == 502
        assert headers["Content-Type"] == "application/problem+json"
        detail = json.loads(body)["detail"]
        assert "answer not translatable" in detail
        assert "$." in detail  # the field is named
    finally:
        facade.stop()
        wrong.stop()
