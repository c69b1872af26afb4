"""The compare queue's memory at its limit (issue 17, item 7): 1 MiB bodies on both sides."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from facade.shadow.handoff import Handoff
from facade.shadow.job import COMPARE_QUEUE, COMPARE_QUEUE_BYTES
from parallel_run.compare import HttpAnswer
from tests.unit.facade.shadow.support import JSON, compared, routes

MIB = 1 << 20
ENTRY_OVERHEAD = 16 * 1024  # bytes an entry may hold beyond its bodies


def test_at_its_byte_limit_the_queue_holds_its_bodies_and_little_more(tmp_path: Path) -> None:
    loaded = routes(tmp_path)
    handoff = Handoff()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = 0
        while True:
            item = compared(
                loaded,
                legacy=HttpAnswer(200, JSON, bytes(MIB)),
                candidate=HttpAnswer(200, JSON, bytes(MIB)),
            )
            if not handoff.put(item):
                break
            held += 1
        del item  # the refused one: dropped by the caller
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # the byte bound, not the count, stops 1 MiB answers: 64 entries of 2 MiB
    assert held == COMPARE_QUEUE_BYTES // (2 * MIB) < COMPARE_QUEUE
    assert handoff.queued_bytes == held * 2 * MIB
    overhead = (used - held * 2 * MIB) / held
    print(
        f"\ncompare queue at its limit: {held} entries, {used / MIB:.1f} MiB, {overhead:.0f} B each"
    )
    assert used <= COMPARE_QUEUE_BYTES + held * ENTRY_OVERHEAD
