"""``strangler serve`` loads routes.yaml with the garbage collector off and leaves it off until
what its start built is frozen; from there the collector is on, or it would never run again in
a long-lived process."""

from __future__ import annotations

import gc

from facade import server


def test_freezing_the_start_turns_the_collector_back_on() -> None:
    was_enabled = gc.isenabled()
    gc.disable()  # as strangler serve leaves it from its load on
    try:
        server.freeze_what_start_built()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process's objects back in the collector's reach
        if not was_enabled:
            gc.disable()
