"""Seam experiments into the result store the facade uses (routes.yaml ``store:``).

One ``Recorder`` per store URL and process, started on the first experiment: its thread
writes in batches and never blocks the call (a full queue or a store that is down costs a
counted drop, never a failed request). Records are redacted by the store as the facade's are.
What a record holds, and how each side's value or exception is compared, is
``parallel_run.publish.StorePublisher``'s: the seams hand it to their ``Experiment``.
"""

from __future__ import annotations

import atexit
import threading

from facade.config import Config
from facade.config.evidence import recorder_options, store_settings
from parallel_run.publish import StorePublisher
from parallel_run.record import ObservationRecord
from parallel_run.recorder import Recorder

_lock = threading.Lock()
_recorders: dict[str, Recorder] = {}


def recorder_for(config: Config) -> Recorder:
    """The process's recorder for ``config``'s store, started on first use."""
    url = config.store_url
    with _lock:
        recorder = _recorders.get(url)
        if recorder is None:
            # the same store, redaction and bounds on evidence as the facade's shadow mode
            recorder = Recorder.for_store(
                store_settings(config), **recorder_options(config)
            ).start()
            _recorders[url] = recorder
        return recorder


def publisher_for(config: Config, *, seam: str, call: str) -> StorePublisher:
    """The publisher of one seam call's experiment: ``seam:<name>`` records of kind ``seam``,
    the call named as their path, into ``config``'s store."""

    def submit(record: ObservationRecord) -> bool:
        # the recorder starts with the first record, inside the publisher: a store that
        # cannot be set up is an experiment's logged publish failure, never the caller's
        return recorder_for(config).submit(record)

    return StorePublisher(submit, route=seam, call=call, kind="seam")


@atexit.register
def flush() -> None:
    """Write what the recorders still hold and stop them; runs at exit (a gunicorn worker
    restarted, SIGTERM), and tests call it to read the store."""
    with _lock:
        recorders = list(_recorders.values())
        _recorders.clear()
    for recorder in recorders:
        recorder.close(timeout=2.0)
