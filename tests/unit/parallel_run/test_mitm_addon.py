"""The recording addon inside mitmproxy's own test harness: filters, redaction, the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import tflow

from parallel_run.mitm_addon import Capture
from parallel_run.replay import read_exchanges
from parallel_run.traffic import RecordedExchange

with warnings.catch_warnings():
    # ldap3, imported by mitmproxy's addons, still uses pyasn1's deprecated names
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy.test import taddons


def flow(method: str, path: str, *, auth: str = "Bearer s3cret") -> http.HTTPFlow:
    request = http.Request.make(
        method, f"http://127.0.0.1:8000{path}", b"", {"Authorization": auth}
    )
    response = http.Response.make(
        200, b'{"password": "hunter2", "ok": true}', {"Content-Type": "application/json"}
    )
    return tflow.tflow(req=request, resp=response)


async def test_matching_flows_are_written_redacted_and_the_live_flow_is_untouched(
    tmp_path: Path,
) -> None:
    out = tmp_path / "rec.flows"
    addon = Capture()
    with taddons.context(addon) as tctx:
        tctx.configure(
            addon,
            strangler_record=str(out),
            strangler_paths=["/api/products,/api/orders/{id}"],
            strangler_methods=["GET"],
        )
        live = flow("GET", "/api/products/SKU-1?token=abc")
        for f in (
            live,
            flow("GET", "/api/orders/7"),
            flow("GET", "/api/orders/7/cancel"),  # not under the template
            flow("POST", "/api/products"),  # not a recorded method
            flow("GET", "/api/productsX"),  # not a whole segment
        ):
            addon.response(f)
        addon.done()
    assert (addon.written, addon.filtered) == (2, 3)
    assert live.request.headers["Authorization"] == "Bearer s3cret"  # what went upstream
    got = [e for e in read_exchanges(out) if isinstance(e, RecordedExchange)]
    assert [e.target for e in got] == ["/api/products/SKU-1?token=[REDACTED]", "/api/orders/7"]
    assert dict(got[0].headers)["Authorization"] == "Bearer [REDACTED]"
    assert got[0].response is not None
    assert got[0].response.body == b'{"password":"[REDACTED]","ok":true}'
    assert b"s3cret" not in out.read_bytes()
    assert b"hunter2" not in out.read_bytes()


async def test_configured_names_are_redacted_too(tmp_path: Path) -> None:
    out = tmp_path / "rec.flows"
    addon = Capture()
    with taddons.context(addon) as tctx:
        tctx.configure(
            addon,
            strangler_record=str(out),
            strangler_redact_headers=["x-session"],
            strangler_redact_fields=["ok"],
        )
        f = flow("GET", "/x?ok=1")
        f.request.headers["X-Session"] = "abc"
        addon.response(f)
        addon.done()
    (got,) = read_exchanges(out)
    assert isinstance(got, RecordedExchange)
    assert got.target == "/x?ok=[REDACTED]"
    assert dict(got.headers)["X-Session"] == "[REDACTED]"


async def test_a_path_filter_must_be_a_path(tmp_path: Path) -> None:
    addon = Capture()
    with taddons.context(addon) as tctx, pytest.raises(exceptions.OptionsError, match="'api'"):
        tctx.configure(addon, strangler_paths=["api"])
