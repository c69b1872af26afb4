"""``scripts/bench --suite issue17`` runs its whole path at toy sizes: every figure of issue 17's
table is measured and judged, and the connections part holds its idle connections to the end.

Not a benchmark: the sizes are a smoke (60 connections, 50 capabilities, 1 s loads) and no
figure's value is asserted, only that each was produced, that the verdict follows its aim, and
that nothing failed (no connection lost, no error): those do not depend on the machine's load.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIGURES = 12  # the issue's 8 rows, the connections' errors, RSS and p99, and on uvloop


@pytest.mark.skipif(
    shutil.which("wrk") is None or shutil.which("nginx", path="/usr/sbin:/usr/bin") is None,
    reason="wrk and nginx are needed (scripts/bench installs them)",
)
@pytest.mark.timeout(600)
def test_the_issue17_suite_measures_and_judges_every_figure_of_the_table(tmp_path: Path) -> None:
    out = tmp_path / "issue17.json"
    argv = [
        sys.executable, "-m", "bench", "--suite", "issue17",
        "--duration", "1s", "--warmup", "1s", "--conn-duration", "1s",
        "--compare-seconds", "0.05", "--load-rounds", "1", "--capabilities", "50",
        "--held", "60", "--active", "10", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text())

    table = document["table"]
    assert len(table) == FIGURES, [row["figure"] for row in table]
    for row in table:
        assert row["measured"] is not None, row
        assert row["shown"] in done.stdout, row  # printed, not only written
    judged = [row for row in table if row["aim"] != "stated"]
    assert all(isinstance(row["pass"], bool) for row in judged)
    assert set(document["failed"]) == {row["figure"] for row in judged if not row["pass"]}

    facade, naive, on_uvloop = document["connections"]
    assert [facade["key"], naive["key"], on_uvloop["key"]] == ["c", "r", "cu"]
    for front in (facade, naive, on_uvloop):
        assert front["held"] == 60
        assert front["kept"] == 50, front  # every idle connection answered to the end
        assert front["errors"] == 0, front
        assert front["memory"]["hwm_kb"] >= front["memory"]["rss_idle_kb"] > 0
    assert facade["cap"]["configured"] >= 60
    errors_row = next(row for row in table if row["figure"].endswith(": errors"))
    assert errors_row["pass"] is True
    assert document["routes_load"]["capabilities"] == 50
    assert {c["key"] for c in document["comparator"]} == {"reordered", "one-field", "several"}
