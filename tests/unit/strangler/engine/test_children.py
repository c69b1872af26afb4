"""strangler.engine.children: restart limits, a child stopped as a process group."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from strangler.engine.children import Child, RestartPolicy, Spec


def test_restarts_until_the_limit_within_the_window() -> None:
    policy = RestartPolicy(limit=3, window=60)
    assert policy.allows_restart(0)
    assert policy.allows_restart(1)
    assert not policy.allows_restart(2)


def test_exits_spread_beyond_the_window_keep_restarting() -> None:
    policy = RestartPolicy(limit=3, window=10)
    assert all(policy.allows_restart(t * 11.0) for t in range(10))


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )

    async def scenario() -> int:
        child = Child(Spec("sleeper", [sys.executable, "-c", script]))
        await child.start()
        assert child.running
        for _ in range(100):
            if pid_file.exists() and pid_file.read_text():
                break
            await asyncio.sleep(0.05)
        await child.stop(grace=5)
        assert not child.running
        return int(pid_file.read_text())

    grandchild = asyncio.run(scenario())
    for _ in range(100):  # reaped by init once the group's leader is gone
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return
        if Path(f"/proc/{grandchild}/stat").read_text().split()[2] == "Z":
            return
        time.sleep(0.05)
    raise AssertionError("the grandchild outlived the stop")
