"""Running wrk and reading its result from a Lua ``done()`` hook (exact percentiles, as JSON)."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import BenchError

MARKER = "BENCH_RESULT "

# wrk keeps latencies in microseconds; percentile() reads its histogram, not a rounded summary.
REPORT_LUA = """\
-- written by bench/wrk.py: prints one JSON line that the orchestrator reads
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\\n',
    "MARKER", summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
""".replace("MARKER", MARKER)


@dataclass(frozen=True, slots=True)
class Load:
    """One wrk load shape."""

    name: str  # "latency" (1 connection) or "throughput"
    connections: int
    threads: int = 1


@dataclass(frozen=True, slots=True)
class Measurement:
    load: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # connect/read/write/timeout errors plus non-2xx/3xx answers
    # the errors by wrk's kind (connect, read, write, status, timeout), where any
    error_kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def median(cls, items: Sequence[Measurement]) -> Measurement:
        """Each figure's median over rounds (errors are summed: any error should show)."""
        first = items[0]
        return cls(
            load=first.load,
            connections=first.connections,
            requests=round(statistics.median(m.requests for m in items)),
            seconds=statistics.median(m.seconds for m in items),
            rps=statistics.median(m.rps for m in items),
            p50_ms=statistics.median(m.p50_ms for m in items),
            p90_ms=statistics.median(m.p90_ms for m in items),
            p99_ms=statistics.median(m.p99_ms for m in items),
            max_ms=max(m.max_ms for m in items),
            errors=sum(m.errors for m in items),
            error_kinds={
                kind: sum(m.error_kinds.get(kind, 0) for m in items)
                for kind in sorted({k for m in items for k in m.error_kinds})
            },
        )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("wrk not found (scripts/bench installs it with apt-get)")
    return found


def wrk_version() -> str:
    done = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" Copyright")[0].removeprefix("wrk ").strip() if first else "?"


def write_script(workdir: Path) -> Path:
    path = workdir / "report.lua"
    path.write_text(REPORT_LUA)
    return path


def write_paced_script(workdir: Path, connections: int, rate: float) -> Path:
    """The report script plus a ``delay()`` that paces each of ``connections`` to its share of
    ``rate`` requests a second: a fixed offered load below saturation, where a tail latency
    says what a request costs rather than how long the queue in front of it is.

    wrk waits the delay (whole milliseconds: it reads an integer) before each request on a
    connection, so the rate reached is a little under ``rate`` (by each request's own latency
    and the rounding); the measured rps is what is reported.
    """
    delay_ms = round(1000 * connections / rate) if connections >= 1 and rate > 0 else 0
    if delay_ms < 1:
        raise BenchError(
            f"cannot pace {connections} connection(s) to {rate:g} requests/s: "
            "wrk's delay is whole milliseconds (use more connections or a lower rate)"
        )
    path = workdir / f"paced-{connections}-{rate:g}.lua"
    path.write_text(REPORT_LUA + f"delay = function() return {delay_ms} end\n")
    return path


def run_wrk(
    url: str, load: Load, seconds: int, script: Path, *, timeout: float = 5.0
) -> Measurement:
    """wrk's figures for one load shape; ``timeout``: seconds before a request counts as an
    error (wrk's ``--timeout``)."""
    argv = [
        wrk_binary(),
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{seconds}s",
        "--timeout", f"{timeout:g}s",
        "-s", str(script),
        url,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}) on {url}: {done.stderr.strip()}")
    return parse_result(load, done.stdout)


def parse_result(load: Load, stdout: str) -> Measurement:
    line = next((ln for ln in stdout.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        raise BenchError(f"wrk printed no result line:\n{stdout}")
    raw = json.loads(line[len(MARKER) :])
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    return Measurement(
        load=load.name,
        connections=load.connections,
        requests=raw["requests"],
        seconds=round(seconds, 3),
        rps=round(raw["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
        errors=sum(raw["errors"].values()),
        error_kinds={kind: n for kind, n in raw["errors"].items() if n},
    )
