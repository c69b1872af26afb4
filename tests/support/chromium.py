"""Headless Chromium for the self-contained HTML pages (``report --html``, ``map --html``):
the page's DOM as Chromium built it, and a screenshot that proves something was drawn."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/test installs it)"
)


def _flags(profile: Path) -> list[str]:
    assert CHROMIUM is not None
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]


def rendered_dom(page: Path, *, profile: Path) -> str:
    """The DOM Chromium built from the page (``--dump-dom``); fails the test if it could not."""
    dom = subprocess.run(
        [*_flags(profile), "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr
    return dom.stdout


def screenshot(page: Path, shot: Path, *, profile: Path, size: str = "1280,1600") -> int:
    """Renders the page to ``shot`` and returns its size in bytes (a blank page is small).
    ``$STRANGLER_KEEP_SCREENSHOT`` names a file to keep a copy in."""
    done = subprocess.run(
        [*_flags(profile), f"--screenshot={shot}", f"--window-size={size}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    if keep := os.environ.get("STRANGLER_KEEP_SCREENSHOT"):
        shutil.copy(shot, keep)
    return shot.stat().st_size
