"""The capability-aware recording addon: routes.yaml's matcher decides what is recorded."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import tflow

from parallel_run.replay import read_exchanges
from parallel_run.traffic import RecordedExchange
from strangler.record import CapabilityCapture

with warnings.catch_warnings():
    # ldap3, imported by mitmproxy's addons, still uses pyasn1's deprecated names
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy.test import taddons

ROUTES = """\
version: 1
legacy: {url: 'http://127.0.0.1:8000'}
services: {catalog: {url: 'http://127.0.0.1:8101'}}
capabilities:
  product-catalog:
    service: catalog
    match:
      - {methods: [GET], path: /api/products}
      - {methods: [GET], path: '/api/products/{sku}'}
  orders:
    match: [{path: /api/orders}]
store: {redact: [x-session]}
"""


def flow(method: str, path: str) -> http.HTTPFlow:
    request = http.Request.make(method, f"http://127.0.0.1:8000{path}", b"", {"X-Session": "abc"})
    return tflow.tflow(req=request, resp=http.Response.make(200, b"{}"))


async def test_only_the_capability_s_requests_are_recorded_with_its_redaction(
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    out = tmp_path / "cap.flows"
    addon = CapabilityCapture()
    with taddons.context(addon) as tctx:
        tctx.configure(
            addon,
            strangler_record=str(out),
            strangler_routes=str(routes),
            strangler_capability="product-catalog",
        )
        for method, path in [
            ("GET", "/api/products"),
            ("GET", "/api//products/SKU-1"),  # normalized as the facade would
            ("POST", "/api/products"),  # the capability's routes are GET only
            ("GET", "/api/orders"),
        ]:
            addon.response(flow(method, path))
        addon.done()
    got = [e for e in read_exchanges(out) if isinstance(e, RecordedExchange)]
    assert [(e.method, e.target) for e in got] == [
        ("GET", "/api/products"),
        ("GET", "/api//products/SKU-1"),
    ]
    assert dict(got[0].headers)["X-Session"] == "[REDACTED]"


async def test_an_unknown_capability_is_an_option_error(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    addon = CapabilityCapture()
    with (
        taddons.context(addon) as tctx,
        pytest.raises(exceptions.OptionsError, match="unknown capability 'nope'"),
    ):
        tctx.configure(addon, strangler_routes=str(routes), strangler_capability="nope")
