"""The demo stack: the Django monolith under gunicorn, the facade in front, sample traffic.

Run through ``./scripts/demo`` (which sets up the virtualenv first). Uses ./routes.yaml: the
monolith listens where ``legacy.url`` says, the facade on --port (8080).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from facade import config as routes_config
from facade.normalize import normalize_target

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
console = Console(width=None if sys.stdout.isatty() else 140)
# headers that legitimately differ between two answers to the same request
VOLATILE = {"date", "connection", "keep-alive", "transfer-encoding"}


@dataclass(frozen=True)
class Sample:
    method: str
    path: str
    body: dict[str, object] | None = None
    note: str = ""


SAMPLES = [
    Sample("GET", "/api/products?page=1&per_page=3", note="product list"),
    Sample("GET", "/api/products/SKU-00001", note="product detail"),
    Sample("HEAD", "/api/products/SKU-00001", note="HEAD: headers only"),
    Sample("GET", "/api/products/SKU-99999", note="missing product: legacy error shape"),
    Sample("GET", "/api/products?page=abc", note="invalid input"),
    Sample("GET", "/api/inventory/SKU-00002", note="stock level"),
    Sample("GET", "/api/customers/1", note="customer"),
    Sample("GET", "/api/orders?cust_id=1", note="a customer's orders"),
    Sample("GET", "/shop", note="redirect, passed on, not followed"),
    Sample("GET", "/api/export/products.csv", note="chunked stream"),
    Sample("GET", "/api/../api/products/SKU-00003", note="dot segments resolved once"),
    Sample(
        "POST",
        "/api/orders",
        {"cust_id": 2, "lines": [{"sku_item": "SKU-00004", "qty": 1}]},
        note="place an order (facade only)",
    ),
]


class Stack:
    """Processes started by the demo, stopped in reverse order whatever happens."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], port: int) -> None:
        if _port_open(port):
            raise SystemExit(f"demo: port {port} is already in use; stop what uses it ({name})")
        log = (self.state / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((name, proc))
        deadline = time.monotonic() + 30
        while not _port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"demo: {name} did not start; see {self.state / (name + '.log')}:\n"
                    + (self.state / f"{name}.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.1)
        console.print(f"[green]started[/] {name} (pid {proc.pid}) on 127.0.0.1:{port}")

    def stop(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                console.print(f"[yellow]stopped[/] {name} (pid {proc.pid})")
        self.procs.clear()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _request(port: int, sample: Sample) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps(sample.body).encode() if sample.body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(sample.method, sample.path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def _settled(body: bytes) -> bytes:
    # the product list says when it was built, to the microsecond: two calls differ there only
    return re.sub(rb'"generated_at": "[^"]*"', b'"generated_at": "..."', body)


def _same(a: tuple[int, dict[str, str], bytes], b: tuple[int, dict[str, str], bytes]) -> str:
    if a[0] != b[0]:
        return "[red]status differs[/]"
    if _settled(a[2]) != _settled(b[2]):
        return "[red]body differs[/]"
    ha = {k: v for k, v in a[1].items() if k not in VOLATILE}
    hb = {k: v for k, v in b[1].items() if k not in VOLATILE}
    return "[green]identical[/]" if ha == hb else f"[red]headers differ: {set(ha) ^ set(hb)}[/]"


def send_traffic(facade_port: int, legacy_port: int, routes: routes_config.Config) -> bool:
    table = Table(title="sample traffic: through the facade vs. straight to the monolith")
    for column in ("request", "capability", "facade", "direct", "client sees", "what it shows"):
        table.add_column(column)
    all_same = True
    for sample in SAMPLES:
        target = sample.path
        match = routes.matcher.match(sample.method, normalize_target(target).path)
        capability = match.route.capability if match else "- (monolith)"
        via = _request(facade_port, sample)
        if sample.method == "POST":
            direct_status, verdict = "-", f"[cyan]{json.loads(via[2]).get('result', '?')}[/]"
        else:
            direct = _request(legacy_port, sample)
            direct_status, verdict = str(direct[0]), _same(via, direct)
            if target != normalize_target(target).path_qs:
                # the monolith never sees a raw '..' through the facade: a difference by design
                verdict = "[cyan]normalized by the facade[/]"
            all_same &= "identical" in verdict or "normalized" in verdict
        table.add_row(
            f"{sample.method} {target}",
            capability,
            str(via[0]),
            direct_status,
            verdict,
            sample.note,
        )
    console.print(table)
    return all_same


def show_facade_state(facade_port: int) -> None:
    _, _, ready = _request(facade_port, Sample("GET", "/readyz"))
    console.print("[bold]/readyz[/]", json.loads(ready))
    _, _, metrics = _request(facade_port, Sample("GET", "/metrics"))
    lines = [
        line
        for line in metrics.decode().splitlines()
        if line.startswith("strangler_requests_total{")
    ]
    console.print("[bold]/metrics[/] (requests by capability, mode, served-by, status):")
    for line in lines:
        console.print("  " + line, markup=False, highlight=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="stop everything after the traffic")
    parser.add_argument("--port", type=int, default=int(os.environ.get("STRANGLER_PORT", 8080)))
    parser.add_argument("--routes", type=Path, default=ROOT / "routes.yaml")
    args = parser.parse_args()

    routes = routes_config.load(args.routes)
    legacy_port = urlsplit(routes.routes.legacy.url).port or 80
    state = ROOT / ".strangler" / "demo"
    state.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "STRANGLER_LEGACY_DB": str(state / "legacy.sqlite3"),
        "STRANGLER_LEGACY_MEDIA": str(state / "media"),
        "PYTHONUNBUFFERED": "1",
    }
    console.rule("setting up the monolith")
    for step in (["migrate", "--noinput"], ["seed"]):
        subprocess.run(
            [sys.executable, "-m", "legacy_monolith", *step], cwd=ROOT, env=env, check=True
        )

    stack = Stack(state)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        console.rule("starting the stack")
        stack.start(
            "monolith",
            [
                str(BIN / "gunicorn"),
                "-c",
                "python:legacy_monolith.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{legacy_port}",
            ],
            env,
            legacy_port,
        )
        stack.start(
            "facade",
            [
                str(BIN / "strangler"),
                "serve",
                "--routes",
                str(args.routes),
                "--port",
                str(args.port),
            ],
            env,
            args.port,
        )
        time.sleep(1.2)  # let the facade's readiness probe see the monolith once
        console.rule("sample traffic")
        ok = send_traffic(args.port, legacy_port, routes)
        show_facade_state(args.port)
        console.print(
            "[bold green]clients see exactly what the monolith says[/]"
            if ok
            else "[bold red]some answers differ: see the table[/]"
        )
        if args.once:
            return 0 if ok else 1
        console.rule("running")
        console.print(
            f"facade:   http://127.0.0.1:{args.port}/api/products/SKU-00001\n"
            f"monolith: http://127.0.0.1:{legacy_port}/ (direct)\n"
            f"logs:     {state}/*.log   routes: {args.routes} (edits apply within a second)\n"
            "Ctrl-C stops everything."
        )
        while all(proc.poll() is None for _, proc in stack.procs):
            time.sleep(0.5)
        console.print("[red]a process of the stack exited; stopping[/]")
        return 1
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how the demo is meant to end
    finally:
        console.rule("stopping")
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
