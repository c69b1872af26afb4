"""routes.yaml load: `strangler validate` and `strangler serve`'s start with a large file.

Run as ``python -m bench.load_profile [--capabilities N] [--rounds R] [--reference TREE]``.
The file is the one ``tests/integration/test_reload_under_load.py`` writes (``routes_text``),
with N capabilities (10,000 by default: 1.9 MiB, 250,000 YAML values). Each figure is taken
from fresh interpreters, R rounds, this checkout and ``--reference`` (another checkout, main's
say, put first on ``PYTHONPATH`` with this venv) alternately, so that both see the same load:

- ``validate``: CPU (user + system) and wall of ``strangler validate --routes FILE``;
- ``import cli``: of ``import strangler.cli`` (what validate imports);
- ``serve ready``: from exec of ``strangler serve`` to the first 200 from ``/healthz``, wall,
  and the process's CPU at that moment.

Then the stage split, in one interpreter per checkout: ``_read_yaml``,
``RoutesFile.model_validate``, ``_routes_of``, ``Matcher``, freeing it all (CPU seconds, the
minimum of 5 loads, the template cache emptied before each, as in a fresh process).

On a machine shared with other work, CPU is the figure to compare; report the load average
printed with it (docs/benchmarks.md, "routes.yaml load").
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STAGES = """
import gc, sys, time
gc.disable()
from facade.config import model, matching
text = open(sys.argv[1]).read()
best = {}
for _ in range(5):
    matching.parse_template.cache_clear()
    t0 = time.process_time(); tree = model._read_yaml(text, "routes.yaml")
    t1 = time.process_time(); routes = model.RoutesFile.model_validate(tree)
    t2 = time.process_time(); found = model._routes_of(routes, tree)
    t3 = time.process_time(); matcher = matching.Matcher(found)
    t4 = time.process_time(); del tree, routes, found, matcher
    t5 = time.process_time()
    for k, v in (("yaml", t1 - t0), ("pydantic", t2 - t1), ("routes' lines", t3 - t2),
                 ("matcher", t4 - t3), ("free", t5 - t4), ("total", t5 - t0)):
        best[k] = min(best.get(k, 9e9), v)
print("  ".join(f"{k} {v:.3f}" for k, v in best.items()))
"""


def routes_file(capabilities: int, directory: Path) -> Path:
    from tests.integration import test_reload_under_load as big

    big.CAPABILITIES = capabilities
    path = directory / "routes.yaml"
    path.write_text(big.routes_text("http://127.0.0.1:9", "http://127.0.0.1:9", "legacy"))
    return path


def _cli(*args: str) -> list[str]:
    code = f"import sys; sys.argv = ['strangler', *{list(args)!r}]; "
    return [sys.executable, "-c", code + "from strangler.entry import main; main()"]


def run_once(argv: list[str], tree: Path, cwd: Path) -> tuple[float, float]:
    """(CPU, wall) of a process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        argv, env={**os.environ, "PYTHONPATH": str(tree)}, cwd=cwd, check=True, capture_output=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def serve_ready(routes: Path, tree: Path, cwd: Path) -> tuple[float, float]:
    """(CPU at ready, wall to ready) of ``strangler serve``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.perf_counter()
    proc = subprocess.Popen(
        _cli("serve", "--routes", str(routes), "--port", str(port)),
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("strangler serve exited before it was ready") from None
                time.sleep(0.02)
        wall = time.perf_counter() - start
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), wall
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capabilities", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reference", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    trees = {"this": ROOT} | ({"reference": args.reference} if args.reference else {})
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        routes = routes_file(args.capabilities, cwd)
        cases: dict[str, Callable[[Path], tuple[float, float]]] = {
            "validate": lambda t: run_once(_cli("validate", "--routes", str(routes)), t, cwd),
            "import cli": lambda t: run_once(
                [sys.executable, "-c", "import strangler.cli"], t, cwd
            ),
            "serve ready": lambda t: serve_ready(routes, t, cwd),
        }
        print(f"{args.capabilities:,} capabilities; load average at start: {os.getloadavg()}")
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for n in range(args.rounds):
            order = list(trees.items()) if n % 2 == 0 else list(reversed(trees.items()))
            for case, measure in cases.items():
                for name, tree in order:
                    figures.setdefault((case, name), []).append(measure(tree))
        print(f"load average at end: {os.getloadavg()}")
        for (case, name), runs in figures.items():
            cpu, wall = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
            print(
                f"{case:12s} {name:9s} CPU min {cpu[0]:.2f} median {statistics.median(cpu):.2f}"
                f"  wall min {wall[0]:.2f} median {statistics.median(wall):.2f}"
            )
        for name, tree in trees.items():
            done = subprocess.run(
                [sys.executable, "-c", STAGES, str(routes)],
                check=True,
                env={**os.environ, "PYTHONPATH": str(tree)},
                cwd=cwd,
                capture_output=True,
                text=True,
            )
            print(f"stages, CPU s, {name}: {done.stdout.strip()}")


if __name__ == "__main__":
    main()
