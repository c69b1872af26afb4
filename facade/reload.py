"""Follow routes.yaml: a valid new file replaces the configuration whole; a bad one changes nothing.

Polling (twice a second) rather than inotify: it works the same on every filesystem, including
the bind mounts and network volumes configuration often lives on, and it sees atomic renames,
which is how editors and ``strangler`` write the file.

A change of a capability's mode or canary share that the CLI did not record is a hand edit:
``facade.hand_edits`` appends it to the audit trail, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os

from facade import config as config_module
from facade import hand_edits
from facade.errors import ConfigError
from facade.state import FacadeState
from facade.translators import translator_problems

log = logging.getLogger("strangler.reload")
POLL_INTERVAL = 0.5


def _stamp(path: os.PathLike[str] | str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def reload_now(state: FacadeState) -> bool:
    """Load the file again; apply it if valid and changed. Returns True when applied."""
    live = state.live
    path = live.current.source
    try:
        fresh = config_module.load(path, extra_check=translator_problems)
    except ConfigError as exc:
        if str(exc) != live.last_error:
            # keep the old config: a bad reload must never drop traffic
            log.error("routes file rejected, the previous configuration stays in force:\n%s", exc)
            state.metrics.config_reloads.labels("rejected").inc()
        live.last_error = str(exc)
        return False
    live.last_error = None
    if fresh.digest == live.current.digest:
        return False
    old = live.current
    live.current = fresh  # one assignment: each request keeps the Config it started with
    live.reloads += 1
    try:
        hand_edits.notice(old, fresh)  # recorded in a background thread
    except Exception:
        # the audit trail must never cost the reload
        log.exception("could not check the reloaded routes file for hand edits")
    state.metrics.config_reloads.labels("applied").inc()
    log.info("routes file reloaded: %s (sha256 %s)", path, fresh.digest[:12])
    return True


async def watch_routes(state: FacadeState) -> None:
    """Poll routes.yaml and reload it when it changes; runs until cancelled."""
    path = state.live.current.source
    seen = _stamp(path)
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        stamp = _stamp(path)
        if stamp != seen:
            seen = stamp
            if stamp is not None:
                reload_now(state)
