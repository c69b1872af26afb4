"""The walk of ``strangler demo``: one capability from legacy to extracted and back, each
step run with the ``strangler`` verb a team would type and checked against what it promises.

1. legacy: sample traffic, each answer through the facade next to the monolith's, direct;
2. ``strangler data capture``, ``data copy`` + ``data verify``: the capability's rows into the
   service's database, and the relay (``data sync``) started to follow the monolith's changes;
3. ``strangler shadow``: traffic until the evidence gate's ``min_comparisons``; a price changed
   in the monolith itself, carried by the relay, compared clean; status, report;
4. ``strangler canary --percent 10`` then ``50``: a sticky share of clients on the service;
5. ``strangler cutover``: the service serves everything, through the translator;
6. ``strangler rollback``: back to shadow; ``strangler audit --verify``;
7. (walking the catalog) inventory's way back: the service's own changes into the monolith;
8. ``strangler map``: the monolith's endpoints with the walk's traffic, the share it moved to
   services (with ``legacy.endpoints`` in routes.yaml; the facade stores its counts).

A check that does not hold stops the walk (``WalkFailed``, exit 1), naming the step.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

from strangler.demo.stack import (
    DemoError,
    DemoInputError,
    DemoRoutes,
    Stack,
    WayBack,
    executable,
    relay_lag,
    wait_for_config,
)
from strangler.demo.traffic import (
    Answer,
    Req,
    difference_text,
    json_req,
    keyed,
    same_as_monolith,
    send,
    send_all,
)

if TYPE_CHECKING:
    import subprocess

    from facade.config import Config
    from parallel_run.compare import CompareRules
    from strangler.lifecycle.gate import Evidence

SHADOW_TIMEOUT = 60.0  # seconds to gather the evidence before the walk gives up
SYNC_TIMEOUT = 20.0  # a change in the monolith must reach the service within it (a loaded box)
SYNCED_SKU = "SKU-00003"  # the product whose price the walk changes in the monolith
SYNCED_GETS = 10  # GETs of it through the facade after the sync, each compared
WAY_BACK_SKU = "SKU-00005"  # the product the service reserves after the cutover (the way back)
WAY_BACK_QTY = 2
RELOAD_TIMEOUT = 5.0  # the contract says 2 s; a busy 2-core machine is given some slack
CANARY_STEPS = (10.0, 50.0)
CLIENTS = 100  # distinct sticky keys in canary traffic
# the facade hands its endpoint counts to the store every 10 s (facade.traffic): the map waits
MAP_TIMEOUT = 30.0
T = TypeVar("T")
# headers that legitimately differ between two answers to the same request, or that only the
# facade adds (its debug header)
VOLATILE = {"date", "connection", "keep-alive", "transfer-encoding", "x-strangler-route"}


def poll(read: Callable[[], T], done: Callable[[T], bool], *, timeout: float, every: float) -> T:
    """``read()`` until ``done`` says its answer will do or ``timeout`` seconds have passed,
    waiting ``every`` seconds between reads (on an Event, never a bare sleep); the last answer
    either way (the caller's checks then say what was missing)."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while True:
        seen = read()
        left = deadline - time.monotonic()
        if done(seen) or left <= 0:
            return seen
        pause.wait(min(every, left))


@dataclass(frozen=True, slots=True)
class Sample:
    req: Req
    note: str


def _get(path: str, note: str) -> Sample:
    return Sample(Req("GET", path), note)


# step 1's tour of the shop: the capability's routes and some the monolith keeps
SAMPLES = (
    _get("/api/products?page=1&per_page=3", "product list"),
    _get("/api/products/SKU-00001", "product detail"),
    Sample(Req("HEAD", "/api/products/SKU-00001"), "HEAD: headers only"),
    _get("/api/products/SKU-99999", "missing product: legacy error shape"),
    _get("/api/products?page=abc", "invalid input"),
    _get("/api/inventory/SKU-00002", "stock level"),
    _get("/api/customers/1", "customer"),
    _get("/api/orders?cust_id=1", "a customer's orders"),
    _get("/shop", "redirect, passed on, not followed"),
    _get("/api/export/products.csv", "chunked stream"),
    _get("/api/../api/products/SKU-00003", "dot segments resolved once"),
    Sample(
        json_req(
            "POST", "/api/orders", {"cust_id": 2, "lines": [{"sku_item": "SKU-00004", "qty": 1}]}
        ),
        "place an order (facade only)",
    ),
)


@dataclass(frozen=True, slots=True)
class Traffic:
    """A capability's safe requests: what shadow, canary and cutover traffic is made of."""

    shadow: tuple[Req, ...]  # varied: details, list pages, a missing one, a HEAD
    keyed: tuple[Req, ...]  # one per client in canary traffic
    tour: tuple[Req, ...]  # a few, shown one per row after the cutover


def traffic_for(capability: str) -> Traffic:
    if capability == "product-catalog":
        details = [Req("GET", f"/api/products/SKU-{n:05d}") for n in range(1, 61)]
        pages = [Req("GET", f"/api/products?page={p}&per_page=10") for p in range(1, 6)]
        odd = [Req("GET", "/api/products/SKU-99999"), Req("HEAD", "/api/products/SKU-00002")]
        tour: tuple[Req, ...] = (
            Req("GET", "/api/products?page=1&per_page=3"),
            Req("GET", "/api/products/SKU-00001"),
            Req("HEAD", "/api/products/SKU-00001"),
            Req("GET", "/api/products/SKU-99999"),
            Req("GET", "/api/products?page=2&per_page=5"),
        )
    elif capability == "inventory":
        details = [Req("GET", f"/api/inventory/SKU-{n:05d}") for n in range(1, 61)]
        pages = []
        odd = [Req("GET", "/api/inventory/SKU-99999"), Req("HEAD", "/api/inventory/SKU-00002")]
        tour = (
            Req("GET", "/api/inventory/SKU-00001"),
            Req("HEAD", "/api/inventory/SKU-00001"),
            Req("GET", "/api/inventory/SKU-00007"),
            Req("GET", "/api/inventory/SKU-99999"),
        )
    else:
        raise DemoInputError(
            f"the demo walks product-catalog or inventory, the example shop's extracted "
            f"capabilities; not {capability!r}"
        )
    return Traffic(tuple(details + pages + odd), tuple(details), tour)


# -- the narrative -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    step: str
    expectation: str
    held: bool
    detail: str = ""


class WalkFailed(DemoError):
    """A check of the walk did not hold; the message names the step and what was seen."""


@dataclass
class Walk:
    """The walk's narrative: the commands it runs, the checks it makes."""

    console: Console
    routes: DemoRoutes
    stack: Stack
    port: int  # the facade's
    legacy_port: int
    capability: str
    service: str
    checks: list[Check] = field(default_factory=list)
    step_name: str = "start"
    relay_port: int | None = None  # the relay's /metrics, once step 2 started it
    way_back: WayBack | None = None  # walked to extracted after the rest (step 7)
    tour: bool = True  # show `status` and `data status` (step 7 does not repeat them)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per step, "start" too
    _since: float = field(default_factory=time.monotonic)

    def step(self, name: str, title: str) -> None:

        self.clock()
        self.step_name = name
        self.console.rule(f"[bold]{name}: {title}")

    def clock(self) -> None:
        """Add the time since the last call to the current step's."""
        now = time.monotonic()
        self.seconds[self.step_name] = self.seconds.get(self.step_name, 0.0) + now - self._since
        self._since = now

    def expect(self, expectation: str, held: bool, detail: str = "") -> None:
        self.checks.append(Check(self.step_name, expectation, held, detail))
        mark = "[green]✔[/]" if held else "[red]✘[/]"
        line = Text.from_markup(f"{mark} ")
        line.append(expectation)
        if detail:
            line.append(f"  ({detail})", style="dim")
        self.console.print(line)
        if not held:
            raise WalkFailed(f"{self.step_name}: {expectation}" + (f": {detail}" if detail else ""))

    def strangler(self, *args: str, show: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a ``strangler`` verb on the demo's routes.yaml, showing its command line and
        (``show``) its output, as a user would see them."""
        import subprocess

        shown = " ".join(["strangler", *args, "--routes", display(self.routes.path)])
        self.console.print(Text(f"$ {shown}", style="bold cyan"))
        env = {**self.stack.env, "COLUMNS": str(max(self.console.width - 2, 80))}

        done = subprocess.run(
            [executable("strangler"), *args, "--routes", str(self.routes.path)],
            cwd=Path.cwd(),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

        output = (done.stdout + done.stderr).rstrip()
        if output and (show or done.returncode != 0):
            self.console.print(Text(_indent(output), style="dim" if done.returncode == 0 else ""))
        return done

    def verb(self, *args: str) -> None:
        """A lifecycle verb that must succeed; then wait until the facade serves the change."""
        done = self.strangler(*args)
        self.expect(f"strangler {' '.join(args)} exits 0", done.returncode == 0, _exit(done))
        began = time.monotonic()
        followed = wait_for_config(self.port, self.routes.path, timeout=RELOAD_TIMEOUT)
        self.expect(
            "the facade serves the edited routes.yaml, no restart",
            followed,
            f"after {time.monotonic() - began:.1f} s",
        )

    def config(self) -> Config:
        from facade import config as config_module

        return config_module.load(self.routes.path)

    def syncs(self) -> bool:
        """Whether the capability's changes in the monolith are followed (``data.sync``)."""
        data = self.config().routes.capabilities[self.capability].data
        return data is not None and data.sync is not None


def display(path: Path) -> str:
    """A path as short as it can be shown: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _exit(done: subprocess.CompletedProcess[str]) -> str:
    return "" if done.returncode == 0 else f"exit {done.returncode}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


# -- the steps -----------------------------------------------------------------------------


def _same_headers(via: Answer, direct: Answer) -> bool:
    def kept(answer: Answer) -> dict[str, str]:
        return {k.lower(): v for k, v in answer.headers if k.lower() not in VOLATILE}

    return kept(via) == kept(direct)


def _settled(body: bytes) -> bytes:
    import re

    # the product list says when it was built, to the microsecond: two calls differ there only
    return re.sub(rb'"generated_at": "[^"]*"', b'"generated_at": "..."', body)


def legacy_tour(walk: Walk, config: Config) -> None:
    """Step 1: every sample through the facade and straight to the monolith, side by side."""
    from facade.config.normalize import normalize_target

    port, legacy = walk.port, walk.legacy_port
    table = Table(title="sample traffic: through the facade vs. straight to the monolith")
    table.add_column("request", no_wrap=True)
    for column in ("capability", "served by", "facade", "direct", "client sees", "what it shows"):
        table.add_column(column)
    differing, served = [], Counter[str]()
    for sample in SAMPLES:
        req = sample.req
        match = config.matcher.match(req.method, normalize_target(req.path).path)
        capability = match.route.capability if match else "- (monolith)"
        via = send(port, req)
        served[via.served_by] += 1
        if req.method == "POST":
            direct_status = "-"
            verdict = f"[cyan]{_json_field(via.body, 'result')}[/]"
        else:
            direct = send(legacy, req)
            direct_status = str(direct.status)
            if req.path != normalize_target(req.path).path_qs:
                # the monolith never sees a raw '..' through the facade: a difference by design
                verdict = "[cyan]normalized by the facade[/]"
            elif via.status != direct.status:
                verdict = "[red]status differs[/]"
            elif _settled(via.body) != _settled(direct.body):
                verdict = "[red]body differs[/]"
            elif not _same_headers(via, direct):
                verdict = "[red]headers differ[/]"
            else:
                verdict = "[green]identical[/]"
            if "[red]" in verdict:
                differing.append(req.line)
        table.add_row(
            Text(req.line),
            capability,
            via.served_by,
            str(via.status),
            direct_status,
            verdict,
            sample.note,
        )
    walk.console.print(table)
    walk.expect("the monolith served every request", set(served) == {"legacy"}, _counts(served))
    _facade_state(walk)
    walk.expect("clients see exactly what the monolith says", not differing, ", ".join(differing))


def _facade_state(walk: Walk) -> None:
    """/readyz, and /metrics' request counts by capability, mode, served-by and status."""
    import json

    ready = send(walk.port, Req("GET", "/readyz"))
    try:
        body = json.loads(ready.body)
        said = (
            f"{body['status']}; monolith: {body['legacy']['detail']}; "
            f"config sha256 {body['config']['sha256'][:12]}…"
        )
    except (ValueError, KeyError, TypeError):
        said = ready.body.decode(errors="replace")
    walk.console.print(Text(f"/readyz: {ready.status} {said}"))
    metrics = send(walk.port, Req("GET", "/metrics")).body.decode(errors="replace")
    walk.console.print("/metrics (requests by capability, mode, served-by, status):")
    for line in metrics.splitlines():
        if line.startswith("strangler_requests_total{"):
            walk.console.print(Text("  " + line, style="dim"))


def _json_field(body: bytes, name: str) -> str:
    import json

    try:
        value = json.loads(body)
    except ValueError:
        return "?"
    return str(value.get(name, "?")) if isinstance(value, dict) else "?"


def move_data(walk: Walk) -> None:
    """Step 2: the capability's rows into the service's own database, through the ACL; with
    ``data.sync``, capture first (a change made between a copy and the capture would be in
    neither), and the relay started once both sides are equal."""
    cap = walk.capability
    syncs = walk.syncs()
    if syncs:
        done = walk.strangler("data", "capture", cap)
        walk.expect(f"strangler data capture {cap} exits 0", done.returncode == 0, _exit(done))
    done = walk.strangler("data", "copy", cap)
    walk.expect(f"strangler data copy {cap} exits 0", done.returncode == 0, _exit(done))
    done = walk.strangler("data", "verify", cap)
    walk.expect(
        "both databases hold the same rows (counts and checksums)",
        done.returncode == 0,
        _exit(done),
    )
    if syncs:
        start_relay(walk)


def start_relay(walk: Walk) -> None:
    """``strangler data sync CAP`` as a process of the stack, its /metrics on a free port."""
    from regress.processes import free_port

    port = free_port()
    # no --direction: the relay runs what the mode needs, forward from shadow on, and the way
    # back too from canary on where data.sync.back is set
    args = ["data", "sync", walk.capability, "--metrics", f"127.0.0.1:{port}"]
    args += ["--routes", str(walk.routes.path)]
    shown = [*args[:-1], display(walk.routes.path)]
    walk.console.print(Text("$ strangler " + " ".join(shown), style="bold cyan"))
    name = f"relay-{walk.capability}"  # its log: STATE/relay-CAP.log
    relay = walk.stack.launch(name, [executable("strangler"), *args], port=port)
    walk.stack.wait_ready(relay, path="/metrics")
    walk.relay_port = port
    walk.console.print(f"[green]started[/] {name} (pid {relay.proc.pid}), /metrics on :{port}")


def _served(answers: Sequence[Answer]) -> Counter[str]:
    return Counter(a.served_by for a in answers)


def shadow(walk: Walk, traffic: Traffic) -> None:
    """Step 3: the service is compared in the background until the gate has its evidence."""
    from strangler.lifecycle.gate import readiness

    cap = walk.capability
    walk.verb("shadow", cap)
    config = walk.config()
    capability = config.routes.capabilities[cap]
    needed = capability.promote.min_comparisons
    lowered = any("min_comparisons" in c for c in walk.routes.changes)
    walk.console.print(
        f"shadow traffic: {len(traffic.shadow)} different GET/HEAD requests, repeated until the "
        f"store holds {needed} comparisons (promote.min_comparisons"
        + (", lowered for the demo)" if lowered else ")")
    )
    sent, served = 0, Counter[str]()
    deadline = time.monotonic() + SHADOW_TIMEOUT
    with _evidence_reader(config, cap) as evidence:
        while (seen := evidence()).comparisons < needed and time.monotonic() < deadline:
            missing = needed - seen.comparisons
            batch = (list(traffic.shadow) * (missing // len(traffic.shadow) + 1))[
                : max(missing, 20)
            ]
            served += _served(send_all(walk.port, batch))
            sent += len(batch)
            time.sleep(0.3)  # the facade writes its comparisons in batches
    walk.console.print(f"sent {sent} requests; {seen.comparisons} comparisons recorded")
    walk.expect(
        "the monolith still answered every client", set(served) == {"legacy"}, _counts(served)
    )
    walk.expect(
        f"the store holds at least {needed} comparisons",
        seen.comparisons >= needed,
        f"{seen.comparisons} recorded",
    )
    if walk.tour:
        done = walk.strangler("status")
        walk.expect("strangler status exits 0", done.returncode == 0, _exit(done))
    _report_summary(walk)
    ready = readiness(capability.mode, has_service=True, promote=capability.promote, evidence=seen)
    walk.expect(f"{cap} is ready for the next step", ready.ready, ready.text)
    if walk.relay_port is not None:
        monolith_change(walk, config)


@dataclass(frozen=True, slots=True)
class MonolithChange:
    """A field changed in the monolith itself (``PATCH /api/products/SKU`` straight to it, as its
    admin or a batch job would), and where each side shows it."""

    what: str  # "price", "stock"
    field: str  # the legacy field the PATCH sets (an integer)
    legacy_path: str  # the capability's own route: read direct, then through the facade
    legacy_value: Callable[[Any], Any]  # that answer's body -> the field
    service_path: str  # the service's own resource
    service_value: Callable[[Any], Decimal]  # its body -> the field, in the legacy unit


CHANGES = {
    "product-catalog": MonolithChange(
        "price",
        "unitPrice",
        f"/api/products/{SYNCED_SKU}",
        lambda body: body["product"]["unitPrice"],
        f"/v1/products/{SYNCED_SKU}",
        # the legacy API's cents; the service's amount is a decimal string in major units
        lambda body: Decimal(str(body["price"]["amount"])) * 100,
    ),
    "inventory": MonolithChange(
        "stock",
        "qty_on_hand",
        f"/api/inventory/{SYNCED_SKU}",
        lambda body: body["qty_on_hand"],
        f"/v1/stock/{SYNCED_SKU}",
        lambda body: Decimal(body["on_hand"]),
    ),
}


def monolith_change(walk: Walk, config: Config) -> None:
    """Step 3, continued: a field changed in the monolith itself, no facade and no service
    involved. The relay carries it to the service, and the comparisons of that product stay
    clean: without the sync, each would be a mismatch blamed on a service that is only stale."""
    change = CHANGES.get(walk.capability)
    if change is None:
        return
    was = int(
        change.legacy_value(_body(send(walk.legacy_port, Req("GET", change.legacy_path)).body))
    )
    value = was + 100
    patch = f"/api/products/{SYNCED_SKU}"
    walk.console.print(
        Text(
            f"$ curl -X PATCH {patch} -d '{{\"{change.field}\": {value}}}'  (the monolith, direct)"
        )
    )
    began = time.monotonic()
    changed = send(walk.legacy_port, json_req("PATCH", patch, {change.field: value}))
    walk.expect(
        f"the monolith took the new {change.what} of {SYNCED_SKU} ({was} -> {value})",
        changed.status == 200,
        f"{changed.status}",
    )
    service = config.routes.services[walk.service].url.rstrip("/") + change.service_path

    def synced() -> bool:
        return lag == 0 and _service_value(service, change) == value

    lag: float | None = None
    deadline = time.monotonic() + SYNC_TIMEOUT
    while time.monotonic() < deadline:
        lag = relay_lag(walk.relay_port) if walk.relay_port is not None else None
        if synced():
            break
        time.sleep(0.05)
    took = time.monotonic() - began
    walk.expect(
        f"the relay carried it to {walk.service} (its lag back to 0)",
        synced(),
        f"synced in {took:.2f} s, lag now {lag if lag is not None else '?'} s",
    )
    with _evidence_reader(config, walk.capability) as evidence:
        before = _settled_evidence(evidence)  # the shadow traffic's last comparisons written
        answers = send_all(walk.port, [Req("GET", change.legacy_path)] * SYNCED_GETS)
        after = before
        deadline = time.monotonic() + SYNC_TIMEOUT
        while after.comparisons < before.comparisons + SYNCED_GETS and time.monotonic() < deadline:
            time.sleep(0.2)  # the facade writes its comparisons in batches
            after = evidence()
    seen = {str(change.legacy_value(_body(a.body))) for a in answers if a.status == 200}
    walk.expect(
        f"clients see the new {change.what} through the facade ({SYNCED_GETS} GETs)",
        seen == {str(value)} and all(a.status == 200 for a in answers),
        f"seen: {', '.join(sorted(seen))}",
    )
    compared = after.comparisons - before.comparisons
    bad = (after.mismatches - before.mismatches) + (
        after.candidate_errors - before.candidate_errors
    )
    walk.expect(
        f"the service answered them like the monolith ({compared} compared, {bad} mismatches)",
        compared >= SYNCED_GETS and bad == 0,
    )
    if lag is not None:
        walk.console.print(Text(f"synced in {took:.2f} s (lag now {lag:g} s)", style="bold"))
    if walk.tour:
        done = walk.strangler("data", "status", walk.capability)
        walk.expect(
            f"strangler data status {walk.capability} exits 0", done.returncode == 0, _exit(done)
        )


def _body(raw: bytes) -> Any:
    import json

    try:
        return json.loads(raw)
    except ValueError:
        return None


def _settled_evidence(evidence: Callable[[], Evidence]) -> Evidence:
    """The evidence once two reads 0.5 s apart agree (the facade writes in batches), so that
    what is counted after it is only what follows."""
    seen = evidence()
    deadline = time.monotonic() + SYNC_TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(0.5)
        again = evidence()
        if again == seen:
            break
        seen = again
    return seen


def _service_value(url: str, change: MonolithChange) -> Decimal | None:
    """The changed field as the service itself answers it, or None."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return change.service_value(_body(answer.read()))
    except (OSError, KeyError, TypeError, ArithmeticError):
        return None


def _counts(served: Counter[str]) -> str:
    return ", ".join(f"{n} by {who}" for who, n in served.most_common())


@contextmanager
def _evidence_reader(config: Config, capability: str) -> Iterator[Callable[[], Evidence]]:
    """``evidence()``: the capability's judged comparisons over its ``promote.window``, as
    the gate counts them (the store opened once, read again at each call)."""
    from datetime import UTC, datetime

    from strangler.lifecycle.steps import evidence_for, open_store

    store = open_store(config)
    window = config.routes.capabilities[capability].promote.window

    def evidence() -> Evidence:
        return evidence_for(store, capability, window=window, now=datetime.now(UTC))

    try:
        yield evidence
    finally:
        store.close()


def _report_summary(walk: Walk) -> None:
    import json

    cap = walk.capability
    done = walk.strangler("report", cap, "--json", show=False)
    walk.expect("strangler report exits 0", done.returncode == 0, _exit(done))
    (entry,) = [c for c in json.loads(done.stdout)["capabilities"] if c["name"] == cap]
    table = Table(title=f"{cap}: the parallel run, summarised from `strangler report --json`")
    for column in ("compared", "mismatches", "candidate errors", "dropped"):
        table.add_column(column, justify="right")
    table.add_column("legacy ms p50 / p99", justify="right")
    table.add_column("service ms p50 / p99", justify="right")
    legacy, candidate = entry["latency_ms"]["legacy"], entry["latency_ms"]["candidate"]
    table.add_row(
        str(entry["comparisons"]),
        str(entry["mismatches"]),
        str(entry["candidate_errors"]),
        str(entry["dropped"]),
        f"{_ms(legacy['p50'])} / {_ms(legacy['p99'])}",
        f"{_ms(candidate['p50'])} / {_ms(candidate['p99'])}",
    )
    walk.console.print(table)
    for row in entry["top_paths"][:3]:
        walk.console.print(
            Text(
                f"  differs at {row['path']} ({row['count']}x): strangler diff {row['example_id']}"
            )
        )
    walk.expect(
        "the service answered like the monolith (no mismatch, no error)",
        entry["mismatches"] == 0 and entry["candidate_errors"] == 0,
        f"{entry['mismatches']} mismatches, {entry['candidate_errors']} errors",
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _compared(walk: Walk, reqs: Sequence[Req], rules: CompareRules) -> list[tuple[Answer, str]]:
    """Each request through the facade and direct to the monolith: (facade's answer, "" when
    the client got what the monolith says, else what differs)."""
    via = send_all(walk.port, reqs)
    direct = send_all(walk.legacy_port, reqs)
    out = []
    for a, b in zip(via, direct, strict=True):
        comparison = same_as_monolith(a, b, rules)
        out.append((a, "" if comparison.equal else difference_text(comparison)))
    return out


def canary(walk: Walk, traffic: Traffic) -> None:
    """Step 4: a sticky share of clients served by the service, the rest by the monolith."""
    from facade.config.evidence import compare_rules

    cap = walk.capability
    keys = [f"customer-{n:03d}" for n in range(1, CLIENTS + 1)]
    table = Table(title=f"{CLIENTS} clients, one request each (sticky on their key)")
    for column in ("canary", f"served by {walk.service}", "by legacy", "same as the monolith"):
        table.add_column(column, justify="right")
    on_service: dict[float, set[str]] = {}
    for percent in CANARY_STEPS:
        walk.verb("canary", cap, "--percent", f"{percent:g}")
        config = walk.config()
        capability = config.routes.capabilities[cap]
        header = capability.canary.sticky.removeprefix("header:")
        one_each = [traffic.keyed[i % len(traffic.keyed)] for i in range(len(keys))]
        reqs = keyed(one_each, header, keys)
        results = _compared(walk, reqs, compare_rules(capability.compare))
        served = _served([a for a, _ in results])
        on_service[percent] = {
            key for key, (a, _) in zip(keys, results, strict=True) if a.served_by == walk.service
        }
        differing = [
            f"{req.line}: {why}" for req, (_, why) in zip(reqs, results, strict=True) if why
        ]
        table.add_row(
            f"{percent:g}%",
            f"{served[walk.service]} ({_pct(served[walk.service], len(reqs))})",
            str(served["legacy"]),
            f"{len(reqs) - len(differing)}/{len(reqs)}",
        )
        share = served[walk.service] / len(reqs)
        walk.expect(
            f"a share near {percent:g}% of clients is served by {walk.service}",
            share > 0 and abs(share * 100 - percent) <= max(15.0, percent * 0.6),
            _counts(served),
        )
        walk.expect(
            "every client got the monolith's answer", not differing, "; ".join(differing[:3])
        )
    walk.console.print(table)
    low, high = on_service[CANARY_STEPS[0]], on_service[CANARY_STEPS[-1]]
    walk.expect(
        f"the clients on the service at {CANARY_STEPS[0]:g}% stay there at "
        f"{CANARY_STEPS[-1]:g}% (sticky)",
        low <= high,
        f"{len(low - high)} moved back",
    )


def cutover(walk: Walk, traffic: Traffic) -> None:
    """Step 5: the service serves every request, translated back to the monolith's API."""
    from facade.config.evidence import compare_rules

    cap = walk.capability
    walk.verb("cutover", cap)
    capability = walk.config().routes.capabilities[cap]
    rules = compare_rules(capability.compare)
    table = Table(title="after the cutover: through the facade vs. the monolith, direct")
    for column in ("request", "served by", "status", "same as the monolith"):
        table.add_column(column)
    for req, (answer, why) in zip(traffic.tour, _compared(walk, traffic.tour, rules), strict=True):
        table.add_row(
            Text(req.line),
            answer.served_by,
            str(answer.status),
            Text("yes", style="green") if not why else Text(why, style="red"),
        )
    walk.console.print(table)
    everything = _compared(walk, traffic.shadow, rules)
    served = _served([a for a, _ in everything])
    differing = [
        f"{req.line}: {why}"
        for req, (_, why) in zip(traffic.shadow, everything, strict=True)
        if why
    ]
    walk.expect(
        f"all {len(everything)} requests served by {walk.service}",
        set(served) == {walk.service},
        _counts(served),
    )
    walk.expect(
        "clients still get the monolith's answers (bodies compared, compare.ignore left out)",
        not differing,
        "; ".join(differing[:3]),
    )
    if walk.relay_port is not None and _has_way_back(walk):
        way_back(walk)


def _has_way_back(walk: Walk) -> bool:
    data = walk.config().routes.capabilities[walk.capability].data
    return data is not None and data.sync is not None and data.sync.back is not None


def way_back(walk: Walk) -> None:
    """Step 5, continued: the service now takes the writes, but the monolith's other features
    (orders, the storefront) still read its stock. A reservation the service makes reaches the
    monolith's ``reserved`` through the service's outbox and the relay's way back."""
    path = f"/api/inventory/{WAY_BACK_SKU}"
    was = int(_body(send(walk.legacy_port, Req("GET", path)).body)["qty_reserved"])
    body = f"'{{\"qty\": {WAY_BACK_QTY}}}'"
    walk.console.print(Text(f"$ curl -X POST {path}/reserve -d {body}  (through the facade)"))
    began = time.monotonic()
    answer = send(walk.port, json_req("POST", f"{path}/reserve", {"qty": WAY_BACK_QTY}))
    walk.expect(
        f"{walk.service} took the reservation of {WAY_BACK_QTY} x {WAY_BACK_SKU}",
        answer.status == 200 and answer.served_by == walk.service,
        f"{answer.status} by {answer.served_by}",
    )
    reserved = was
    deadline = time.monotonic() + SYNC_TIMEOUT
    while time.monotonic() < deadline:
        reserved = int(_body(send(walk.legacy_port, Req("GET", path)).body)["qty_reserved"])
        if reserved == was + WAY_BACK_QTY:
            break
        time.sleep(0.05)
    took = time.monotonic() - began
    walk.expect(
        f"the way back: the monolith's own stock of {WAY_BACK_SKU} shows it "
        f"(qty_reserved {was} -> {was + WAY_BACK_QTY})",
        reserved == was + WAY_BACK_QTY,
        f"{reserved} after {took:.2f} s",
    )
    walk.console.print(Text(f"carried back in {took:.2f} s", style="bold"))


def rollback(walk: Walk, traffic: Traffic, *, listing: bool = True) -> None:
    """Step 6: back to shadow at once; the audit trail holds every step (listed unless not
    ``listing``), its chain intact."""
    cap = walk.capability
    walk.verb("rollback", cap)
    answers = send_all(walk.port, traffic.tour)
    served = _served(answers)
    modes = {a.route[1] for a in answers if a.route}
    walk.expect(
        "the monolith serves again, the comparison goes on",
        set(served) == {"legacy"} and modes == {"shadow"},
        _counts(served) + f"; mode {', '.join(sorted(modes))}",
    )
    if walk.relay_port is not None and _has_way_back(walk):
        done = walk.strangler("data", "verify", cap)
        walk.expect(
            "the monolith is up to date: both sides hold the same rows", done.returncode == 0
        )
    if listing:
        done = walk.strangler("audit", cap)
        walk.expect("strangler audit exits 0", done.returncode == 0, _exit(done))
    done = walk.strangler("audit", "--verify")
    walk.expect("the audit trail's hash chain is intact", done.returncode == 0, _exit(done))


def summary(walk: Walk) -> None:
    """One row per step: how many of its checks held."""
    walk.clock()
    table = Table(title="the walk's checks")
    for column in ("step", "checks", "held", "s"):
        table.add_column(column)
    if "start" in walk.seconds:
        table.add_row("the stack started", "-", "", f"{walk.seconds['start']:.1f}")
    steps: dict[str, list[Check]] = {}
    for check in walk.checks:
        steps.setdefault(check.step, []).append(check)
    for name, checks in steps.items():
        failed = [c.expectation for c in checks if not c.held]
        table.add_row(
            name,
            str(len(checks)),
            Text("all", style="green") if not failed else Text("NO: " + failed[0], style="red"),
            f"{walk.seconds.get(name, 0.0):.1f}",
        )
    walk.console.print(table)


def walk_all(walk: Walk, traffic: Traffic) -> None:
    cap, service = walk.capability, walk.service
    walk.step("1. legacy", f"{cap} served by the monolith, through the facade")
    legacy_tour(walk, walk.config())
    walk.step("2. data", f"{cap}'s rows into {service}'s own database, through the ACL")
    move_data(walk)
    walk.step("3. shadow", f"{service} compared in the background")
    shadow(walk, traffic)
    walk.step("4. canary", f"a sticky share of clients on {service}")
    canary(walk, traffic)
    walk.step("5. cutover", f"{service} serves {cap}")
    cutover(walk, traffic)
    walk.step("6. rollback", "the monolith serves again, the audit trail holds every step")
    rollback(walk, traffic)
    also = ""
    if walk.way_back is not None:
        back = walk.way_back
        walk.step(
            "7. the way back", f"{back.capability}: the service's own changes to the monolith"
        )
        walk_way_back(walk, back)
        also = f"; {back.capability}: shadow -> extracted -> shadow, its changes carried back"
    if walk.config().inventory is not None:
        walk.step(
            f"{7 if walk.way_back is None else 8}. the map",
            "the monolith's endpoints, their traffic, the share services served",
        )
        migration_map(walk)
    else:
        walk.console.print(
            Text(
                "routes.yaml names no legacy.endpoints (`manage.py strangler_endpoints` writes "
                "it): no `strangler map`",
                style="dim",
            )
        )
    summary(walk)
    walk.console.print(
        Text(
            f"walked {cap}: legacy -> shadow -> canary 10% -> canary 50% -> extracted -> "
            f"shadow{also}; every check held ({len(walk.checks)})",
            style="bold green",
        )
    )


def migration_map(walk: Walk) -> None:
    """The last step: ``strangler map`` over the walk's traffic. Every capability is back in
    shadow, so no endpoint has moved for good; the share of requests the services served
    during the canary and the cutover is what the walk moved, and the map shows it."""
    import json

    cap, service = walk.capability, walk.service

    def mapped() -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        done = walk.strangler("map", "--json", show=False)
        walk.expect("strangler map --json exits 0", done.returncode == 0, _exit(done))
        data = json.loads(done.stdout)
        ours = [e for e in data["endpoints"] if cap in e["capabilities"]]
        return data, ours, sum(e["served_by_services"] for e in ours)

    # the counts of the cutover reach the store within the facade's flush interval
    data, ours, served = poll(mapped, lambda seen: seen[2] > 0, timeout=MAP_TIMEOUT, every=0.5)
    done = walk.strangler("map")
    walk.expect("strangler map exits 0", done.returncode == 0, _exit(done))
    totals = data["totals"]
    requests = sum(e["requests"] for e in ours)
    walk.expect(
        f"the map counts {cap}'s requests, part of them served by {service}",
        requests > 0 and 0 < served <= requests,
        f"{served} of {requests}",
    )
    walk.expect(
        "a share of the monolith's traffic moved to services",
        0 < totals["request_share_served_by_services"] < 1,
        f"{100 * totals['request_share_served_by_services']:.1f}% of {totals['requests']}",
    )
    walk.console.print(
        Text(
            f"moved: {100 * totals['request_share_served_by_services']:.1f}% of the "
            f"{totals['requests']} requests the facade counted were served by services "
            f"({cap}: {_pct(served, requests)} of its {requests}); "
            f"{len(data['candidates'])} endpoints to extract next, {len(data['unused'])} "
            "nobody called",
            style="bold",
        )
    )


def walk_way_back(walk: Walk, back: WayBack) -> None:
    """Step 7: a capability whose data the monolith still reads (inventory: orders reserve
    stock) through shadow to extracted with its service, a change each way, and back; its
    checks count with the walk's."""
    from dataclasses import replace

    # tour=False: what step 3 showed already (status, data status) is not run again
    other = replace(
        walk, capability=back.capability, service=back.service, relay_port=None, tour=False
    )
    # its service was started with the stack (so its boot overlapped the others')
    traffic = traffic_for(back.capability)
    move_data(other)
    shadow(other, traffic)
    cutover(other, traffic)
    rollback(other, traffic, listing=False)  # the verbs printed their audit records already
