"""Follow routes.yaml: a valid new file replaces the configuration whole; a bad one changes nothing.

Polling (four times a second) rather than inotify: it works the same on every filesystem, including
the bind mounts and network volumes configuration often lives on, and it sees atomic renames,
which is how editors and ``strangler`` write the file.

A reload never runs on the event loop: the file is read and parsed in a daemon thread, bounded
by ``facade.config.read_routes`` (size, regular files only) and its YAML composer (aliases,
depth), and waited for at most ``$STRANGLER_RELOAD_TIMEOUT`` (60 s, or more for a larger size limit:
``default_timeout``). A parse abandoned at that limit is the only one: until it ends, no other
starts (the reload is rejected, "previous parse still running", and retried on the next poll),
and the garbage collector stays young-only. Requests go on meanwhile, a
stop signal is honoured (a daemon thread never holds the process), and whatever goes wrong -
a bad file, a timeout, ``MemoryError``, ``RecursionError``, a bug - is a rejected reload: logged,
shown as ``last_reload_error`` on ``/readyz``, the previous configuration stays, and the watcher
goes on to the next change. SIGHUP (``reload_now``) asks the watcher for the same reload.

The endpoint inventory routes.yaml names (``legacy.endpoints``) is followed the same way: an
edit of that file alone reloads routes.yaml (which reads it), and is applied when it changed the
inventory (``Config.fingerprint``; a touch is not). A missing or broken inventory never rejects
a reload (it only reports: a rollback must go through): it is logged as a warning and shown as
``inventory_problem`` on ``/readyz``, and traffic goes on being counted with the last good
inventory of the same ``legacy.endpoints`` (with none, not counted).

Each applied reload calls the hooks given to the facade (``LiveConfig.hooks``) with the old and
the new configuration: ``strangler serve`` registers the hand-edit recorder (``strangler.audit``)
there, so the facade never imports the operator's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import threading
from collections.abc import Callable

from facade import config as config_module
from facade.config.units import parse_duration
from facade.errors import ConfigError, quoted
from facade.state import FacadeState, LiveConfig, ParseSlot
from facade.translators import translator_problems

log = logging.getLogger("strangler.reload")
# an edit is noticed 0.125 s after its save on average (a stat of one file 4 times a second)
POLL_INTERVAL = 0.25
TIMEOUT_ENV = "STRANGLER_RELOAD_TIMEOUT"
# the default bounds (4 MiB, 262,144 values) allow about 10,000 capabilities: 1-2 s with
# libyaml, 20-40 s for the pure-Python loader (a file with a tag or a directive, or a machine
# without ruamel.yaml.clib). The limit is for a file that would never finish, so it stays well
# above that, growing with the size limit (SECONDS_PER_MIB per MiB of
# $STRANGLER_ROUTES_MAX_BYTES)
DEFAULT_TIMEOUT = 60.0
SECONDS_PER_MIB = 15.0

Loader = Callable[[os.PathLike[str]], config_module.Config]


class ReloadTimeout(Exception):
    """The parse thread did not finish within the time limit (it is left to end on its own)."""


class ParseStillRunning(Exception):
    """A parse abandoned at its time limit still runs: no second one starts beside it."""


def default_timeout(size_limit: int) -> float:
    """``DEFAULT_TIMEOUT``, or ``SECONDS_PER_MIB`` per MiB of the size limit if more."""
    return max(DEFAULT_TIMEOUT, SECONDS_PER_MIB * size_limit / 1024**2)


def reload_timeout(source: str = "routes.yaml") -> float:
    """``$STRANGLER_RELOAD_TIMEOUT`` (2s, 500ms, seconds) or ``default_timeout``; a bad value
    is logged."""
    try:
        fallback = default_timeout(config_module.max_bytes(source))
    except ConfigError:
        fallback = DEFAULT_TIMEOUT  # the load reports the bad size limit itself
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return fallback
    try:
        return parse_duration(raw)
    except ValueError as exc:
        log.error("%s: %s; using %gs", TIMEOUT_ENV, exc, fallback)
        return fallback


def _load(path: os.PathLike[str]) -> config_module.Config:
    return config_module.load(path, extra_check=translator_problems)


async def load_off_loop(
    path: os.PathLike[str],
    *,
    time_limit: float,
    loader: Loader = _load,
    slot: ParseSlot | None = None,
) -> config_module.Config:
    """``loader(path)`` in a daemon thread; ``ReloadTimeout`` after ``time_limit`` seconds.

    Not ``run_in_executor``: a pool's threads are joined at exit, so a parse that never ends
    would keep a stopped facade alive. A daemon thread is abandoned at the time limit and at
    exit; its outcome, if it ever comes, is dropped. ``slot`` holds the abandoned thread until
    it ends: meanwhile this raises ``ParseStillRunning`` at once, and the garbage collector
    stays young-only (the thread still allocates).
    """
    slot = slot if slot is not None else ParseSlot()
    if slot.busy():
        raise ParseStillRunning(
            "the previous parse, abandoned at its time limit, is still running; "
            "retried on the next poll"
        )
    loop = asyncio.get_running_loop()
    done: asyncio.Future[config_module.Config] = loop.create_future()
    gc_was_enabled = gc.isenabled()
    lock = threading.Lock()
    ended = False
    abandoned = False

    def settle(result: config_module.Config | None, error: BaseException | None) -> None:
        if done.done():
            return  # timed out or cancelled: nobody waits for it
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        nonlocal ended
        result: config_module.Config | None = None
        error: BaseException | None = None
        try:
            result = loader(path)
        except BaseException as exc:  # MemoryError, RecursionError...: the loop decides
            if not isinstance(exc, ConfigError):
                log.debug("routes file load failed", exc_info=exc)
            # the traceback's frames hold the half-built YAML tree: let them go here, in this
            # thread, not in the loop's (freeing a large tree at once holds the GIL)
            error = exc.with_traceback(None)
            error.__context__ = error.__cause__ = None
        with lock:
            ended = True
            if abandoned:
                # nobody waits: the last thing an abandoned parse does is free the slot and
                # give the collector back (here, so it happens even if the loop is gone)
                slot.thread = None
                _restore_gc(gc_was_enabled)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (exit)
            loop.call_soon_threadsafe(settle, result, error)

    thread = threading.Thread(target=work, name="routes-reload", daemon=True)
    gc.disable()
    try:
        thread.start()
    except BaseException:  # no thread to start (RuntimeError): nothing to wait for
        _restore_gc(gc_was_enabled)
        raise
    deadline = loop.time() + time_limit
    try:
        while not done.done():
            left = deadline - loop.time()
            if left <= 0:
                raise ReloadTimeout(
                    f"parsing took longer than {time_limit:g}s; refused "
                    f"(${TIMEOUT_ENV} sets the limit)"
                )
            await asyncio.wait({done}, timeout=min(YOUNG_EVERY, left))
            gc.collect(1)
    finally:
        with lock:
            if ended:
                _settle_gc(gc_was_enabled)
            else:  # the time limit, or cancelled (stop): the thread goes on without us
                abandoned = True
                slot.thread = thread
                done.cancel()  # its outcome, if it comes, is dropped unread
                loop.call_later(YOUNG_EVERY, _collect_young_while, thread, slot)
    return done.result()


# A parse allocates millions of objects, and the garbage collector's full passes, started by
# whichever thread allocates, hold the GIL throughout: 400-600 ms stalls of the event loop for
# 3,000 capabilities. While the parse thread runs, automatic collection is off and the loop
# collects the young generations itself, a few milliseconds every YOUNG_EVERY seconds (70-180 ms
# worst stall measured); full passes resume when the parse ends, abandoned or not.
YOUNG_EVERY = 0.1


def _restore_gc(enabled: bool) -> None:
    if enabled:
        gc.enable()


def _settle_gc(enabled: bool) -> None:
    """Give the collector back once the parse thread has ended.

    No ``gc.freeze`` here: what is alive at a reload (requests in flight, their futures and
    tracebacks) would then never be scanned again, and any of it that later became cyclic
    garbage would never be freed, a leak growing with each reload of a long-running proxy.
    The full pass the parse makes due costs a scan of what is not frozen: ``strangler serve``
    froze what its start built (``facade.server``), so that is about the configurations in
    force, which hold no reference cycles (a replaced one is freed by reference counting);
    3,000 capabilities: ~65,000 objects, 20-40 ms.
    """
    gc.collect(1)  # what requests threw away meanwhile, while it is young and cheap to scan
    _restore_gc(enabled)


def _collect_young_while(thread: threading.Thread, slot: ParseSlot) -> None:
    """On the loop, every YOUNG_EVERY seconds, while an abandoned parse thread runs."""
    if slot.thread is not thread:
        return  # it ended: the collector is back
    gc.collect(1)
    asyncio.get_running_loop().call_later(YOUNG_EVERY, _collect_young_while, thread, slot)


async def reload(state: FacadeState, *, time_limit: float | None = None) -> bool:
    """Load the file again, off the loop; apply it if valid and changed.

    Returns True when applied. Never raises (but ``CancelledError``): any failure is a
    rejected reload and the configuration in force stays.
    """
    path = state.live.current.source
    log.info("routes file %s: loading it (off the event loop)", path)
    try:
        limit = reload_timeout(str(path)) if time_limit is None else time_limit
        fresh = await load_off_loop(path, time_limit=limit, slot=state.live.abandoned_parse)
    except ConfigError as exc:
        _reject(state, str(exc))
        return False
    except (ReloadTimeout, ParseStillRunning) as exc:
        _reject(state, f"{path}: {exc}")
        return False
    except Exception as exc:
        # MemoryError, RecursionError, a bug in a check: the watcher must outlive all of them
        _reject(state, f"{path}: could not load the file: {type(exc).__name__}: {quoted(str(exc))}")
        return False
    return apply(state, fresh)


def apply(state: FacadeState, fresh: config_module.Config) -> bool:
    """Put a loaded configuration in force unless it is the one already in force."""
    live = state.live
    live.last_error = None
    old = live.current
    fresh = _keep_counting(old, fresh)
    if fresh.fingerprint == old.fingerprint:
        return False
    if fresh.inventory_problem is not None and fresh.inventory_problem != old.inventory_problem:
        log.warning(inventory_warning(fresh.inventory_problem))
    live.current = fresh  # one assignment: each request keeps the Config it started with
    live.reloads += 1
    run_hooks(live, old, fresh)
    state.metrics.config_reloads.labels("applied").inc()
    log.info("routes file reloaded: %s (sha256 %s)", fresh.source, fresh.digest[:12])
    return True


def run_hooks(
    live: LiveConfig, old: config_module.Config | None, new: config_module.Config
) -> None:
    """Call each reload hook; one that fails is logged and never costs the reload."""
    for hook in live.hooks:
        try:
            hook(old, new)
        except Exception:
            log.exception("reload hook %s failed", getattr(hook, "__qualname__", hook))


def _reject(state: FacadeState, error: str) -> None:
    live = state.live
    if error != live.last_error:
        # keep the old config: a bad reload must never drop traffic
        log.error("routes file rejected, the previous configuration stays in force:\n%s", error)
        state.metrics.config_reloads.labels("rejected").inc()
    live.last_error = error


def reload_now(state: FacadeState) -> None:
    """SIGHUP: ask the watcher to reload at once, changed or not (never blocks the loop)."""
    state.live.reload_requested.set()


def inventory_warning(problem: str) -> str:
    return (
        "the endpoint inventory (legacy.endpoints) cannot be used; routing is unaffected, "
        f"traffic per endpoint is counted with the last good one, if any:\n{problem}"
    )


def _keep_counting(old: config_module.Config, fresh: config_module.Config) -> config_module.Config:
    """``fresh``, given ``old``'s inventory when its own cannot be used and it names the same
    file: counting goes on with the last good inventory (the problem stays on show)."""
    if (
        fresh.inventory is None
        and fresh.inventory_problem is not None
        and old.inventory is not None
        and fresh.inventory_path() == old.inventory_path()
    ):
        return dataclasses.replace(fresh, inventory=old.inventory)
    return fresh


Stamp = tuple[int, int, int, int]


def _stamps(live: LiveConfig) -> tuple[Stamp | None, Stamp | None]:
    """routes.yaml's stamp, and its endpoint inventory's (None: none named)."""
    inventory = live.current.inventory_path()  # named, even when it cannot be used
    return _stamp(live.current.source), _stamp(inventory) if inventory is not None else None


def _stamp(path: os.PathLike[str] | str) -> Stamp | None:
    try:
        st = os.stat(path)  # a stat never opens the file: safe on a FIFO or a device
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


async def watch_routes(state: FacadeState) -> None:
    """Poll routes.yaml and its endpoint inventory and reload when either changes (or on
    SIGHUP); runs until cancelled."""
    path = state.live.current.source
    asked = state.live.reload_requested
    seen = _stamps(state.live)
    if await asyncio.to_thread(state.live.current.edited_since_load):
        asked.set()  # saved between the load and the stamp above: reloaded at once
    while True:
        # asyncio.timeout, not wait_for: a cancel arriving as a SIGHUP is set would be lost
        # in wait_for (Python 3.11, gh-86296) and the watcher would outlive its facade
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_INTERVAL):
                await asked.wait()
        stamp = _stamps(state.live)
        if stamp == seen and not asked.is_set():
            continue
        now = asked.is_set()
        asked.clear()
        seen = stamp
        if stamp[0] is None and not now:
            continue  # mid-rename, or deleted: the next stamp tells
        if state.live.abandoned_parse.busy():
            # a second parse beside the abandoned one would pile up: rejected (logged once),
            # and the change is taken up again on the next poll
            await reload(state)
            seen = (None, None)
            await asyncio.sleep(POLL_INTERVAL)
            continue
        try:
            await reload(state)
        except Exception as exc:  # reload() catches its own; this is the last line
            log.exception("routes file reload failed; the watcher goes on")
            state.live.last_error = f"{path}: reload failed: {type(exc).__name__}"
