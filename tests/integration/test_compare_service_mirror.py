"""The mirror reaches the compare service: `strangler export nginx|envoy` run for real, in front
of a monolith and a candidate wrong for every 4th item, mirroring to `strangler
compare-service`; `strangler report` then shows every request compared and the planted rate."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.support import processes, proxies
from tests.support.compare_stack import (
    STRANGLER,
    compare_service,
    report,
    standin,
    total,
    write_routes,
)
from tests.support.probe import get_body, wait_until

pytestmark = pytest.mark.integration
ITEMS = 40


def exported(engine: str, routes: Path, out: Path, port: int, compare: str) -> list[str]:
    """The proxy's command line, from `strangler export` run on ``routes``."""
    extra = []
    if engine == "envoy":
        extra = [f"--admin-port={processes.free_port()}"]
    done = proxies.check(
        [
            STRANGLER, "export", engine, str(out), "--routes", str(routes),
            f"--listen=127.0.0.1:{port}", f"--compare-url={compare}", *extra,
        ]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    if engine == "nginx":
        out.chmod(0o755)  # nginx's workers run as nobody when the tests run as root
        nginx = proxies.nginx_binary()
        return [nginx, "-p", str(out), "-c", str(out / "nginx.conf"), "-g", "daemon off;"]
    envoy = proxies.envoy_binary()
    return [
        envoy, "-c", str(out / "envoy.yaml"), "--disable-hot-restart",
        "--concurrency", "1", "-l", "warning",
    ]  # fmt: skip


@pytest.mark.parametrize("engine", ["nginx", "envoy"])
def test_the_proxy_s_mirror_is_compared_and_reported(engine: str, tmp_path: Path) -> None:
    if engine == "nginx":
        proxies.nginx_binary()
    else:
        proxies.envoy_binary()
    monolith = standin("monolith", tmp_path)
    candidate = standin("candidate", tmp_path)
    routes = write_routes(tmp_path, monolith.url, candidate.url)
    # every request mirrored (the export's default samples 10%)
    routes.write_text(
        routes.read_text().replace(
            "mode: shadow\n", "mode: shadow\n    shadow: {percent: 100}\n", 1
        )
    )
    compare = compare_service(routes, tmp_path)
    port = processes.free_port()
    proxy = None
    try:
        argv = exported(engine, routes, tmp_path / "out", port, compare.url)
        proxy = proxies.start(engine, argv, port=port, log_dir=tmp_path)
        for n in range(1, ITEMS + 1):
            request = urllib.request.Request(
                f"{proxy.url}/api/items/{n}", headers={"Host": "shop.example"}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                # the client gets the monolith's answer, never the candidate's
                assert json.loads(answer.read())["price"] == n * 10
        wait_until(
            lambda: total(compare, "strangler_shadow_comparisons_total") == ITEMS,
            f"{engine}'s mirror copies are all compared",
        )
        assert compare.stop() == 0
        cap = report(routes)
        assert cap["comparisons"] == ITEMS
        assert cap["mismatches"] == ITEMS // 4
        seen = json.loads(get_body(monolith.url + "/_seen"))
        # the client's call through the proxy, the compare service's control call
        assert seen["count"] >= 2 * ITEMS
        assert "shop.example" in seen["hosts"]
    finally:
        if proxy is not None:
            proxy.stop()
        compare.stop()
        candidate.stop()
        monolith.stop()
