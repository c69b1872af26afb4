"""The release gate: each capability of the demo shop walked legacy -> shadow -> canary ->
extracted -> rollback with the ``strangler`` verbs, as a user types them, on a real stack
(gunicorn monolith, extracted services, ``strangler serve``) started by the project's own pytest
plugin; the golden corpus (tests/golden) answers as recorded at every step.

Cutover is not forced: shadow traffic builds the evidence the gate asks for
(``promote.min_comparisons`` judged comparisons, no mismatch), as it would in production. The
shipped capabilities have ``data.sync``, so the data is put in step first, in README's order:
``data capture``, ``data copy``, ``data verify``, then ``data sync`` running for the whole walk.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from regress.plugin import Golden
from regress.stack import ModeOverride, Stack
from tests.support.probe import wait_until

pytestmark = pytest.mark.e2e
STRANGLER = Path(sys.executable).parent / "strangler"
# each capability's safe requests of the corpus, sent again and again as shadow traffic
TRAFFIC = {
    "product-catalog": [f"/api/products/SKU-{n:05d}" for n in range(1, 41)]
    + ["/api/products?per_page=5", "/api/products/SKU-99999", "HEAD /api/products/SKU-00002"],
    "inventory": [f"/api/inventory/SKU-{n:05d}" for n in range(1, 41)],
}


def strangler(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(STRANGLER), *args, "--routes", str(stack.routes_path)],
        env=stack.environment(),  # the stack's databases, for the data verbs
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done


def step(stack: Stack, *args: str) -> str:
    done = strangler(stack, *args)
    assert done.returncode == 0, f"strangler {' '.join(args)}: {done.stdout}{done.stderr}"
    stack.wait_for_config()  # the facade follows routes.yaml within a second
    return done.stdout


def served_by(stack: Stack, golden: Golden, capability: str) -> set[str]:
    """Who served the corpus's cases of ``capability`` (from the facade's debug header)."""
    verdicts = golden.assert_passes(stack.url, capability)
    assert verdicts, f"the corpus has no cases of {capability}"
    return {(v.served_by or "").rsplit(";", 1)[-1] for v in verdicts}


def evidence(stack: Stack, capability: str) -> int:
    done = strangler(stack, "status", "--json")
    assert done.returncode == 0, done.stderr
    (entry,) = [c for c in json.loads(done.stdout)["capabilities"] if c["name"] == capability]
    return int(entry["evidence"]["comparisons"])


def shadow_traffic(stack: Stack, capability: str, *, until: int, timeout: float = 60) -> int:
    """Send the capability's requests until the store holds ``until`` comparisons."""
    paths = TRAFFIC[capability]

    def get(path: str) -> int:
        method, _, path = path.rpartition(" ")
        request = urllib.request.Request(stack.url + path, method=method or "GET")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                answer.read()
                return int(answer.status)
        except urllib.error.HTTPError as error:  # a 404 is an answer too
            with error:
                return error.code

    deadline = time.monotonic() + timeout
    seen = 0
    with ThreadPoolExecutor(4) as pool:
        while (seen := evidence(stack, capability)) < until:
            assert time.monotonic() < deadline, f"only {seen} comparisons of {capability}"
            list(pool.map(get, paths * max(1, (until - seen) // len(paths) + 1)))
            time.sleep(0.5)  # the comparisons are written in batches
    return seen


class Relay:
    """``strangler data sync CAP`` running beside the stack, as an operator leaves it running."""

    def __init__(self, stack: Stack, capability: str) -> None:
        self.log = stack.state_dir / f"relay-{capability}.log"
        self.log.write_bytes(b"")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(STRANGLER), "data", "sync", capability, "--routes", str(stack.routes_path)],
                env=stack.environment(),
                stdout=out,
                stderr=out,
            )

    def wait_following(self, directions: int) -> None:
        """Until ``directions`` directions follow (the relay starts each as the mode needs it)."""
        wait_until(
            lambda: (
                self.log.read_text().count(": following") >= directions
                or self.process.poll() is not None
            ),
            f"{directions} direction(s) of the relay follow",
            timeout=60,
        )
        assert self.process.poll() is None, self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0, self.log.read_text()


@pytest.mark.parametrize("capability", ["product-catalog", "inventory"])
def test_a_capability_walks_from_legacy_to_extracted_and_back(
    strangler_stack: Stack, strangler_golden: Golden, capability: str
) -> None:
    stack = strangler_stack
    service = stack.config().routes.capabilities[capability].service
    data = stack.config().routes.capabilities[capability].data
    assert data is not None
    assert data.sync is not None, "the shipped routes.yaml syncs its data"
    relay: Relay | None = None
    try:
        assert served_by(stack, strangler_golden, capability) == {"legacy"}

        # the data in step before any gated step (README: capture, copy, verify, sync running)
        step(stack, "data", "capture", capability)
        step(stack, "data", "copy", capability)
        step(stack, "data", "verify", capability)
        relay = Relay(stack, capability)

        assert "shadow" in step(stack, "shadow", capability)
        relay.wait_following(1)  # shadow: forward
        assert served_by(stack, strangler_golden, capability) == {"legacy"}
        minimum = stack.config().routes.capabilities[capability].promote.min_comparisons
        assert shadow_traffic(stack, capability, until=minimum) >= minimum

        step(stack, "canary", capability, "--percent", "50")  # gated above 10%: evidence, data
        assert served_by(stack, strangler_golden, capability) <= {"legacy", service}
        relay.wait_following(2 if data.sync.back else 1)  # canary: the way back too

        step(stack, "cutover", capability)
        assert served_by(stack, strangler_golden, capability) == {service}

        step(stack, "rollback", capability)
        assert served_by(stack, strangler_golden, capability) == {"legacy"}
        assert stack.config().routes.capabilities[capability].mode == "shadow"

        audit = strangler(stack, "audit", "--verify")
        assert audit.returncode == 0, audit.stdout + audit.stderr
    finally:
        stack.set_modes({capability: ModeOverride("legacy")})
        if relay is not None:
            relay.stop()
