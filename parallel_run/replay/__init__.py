"""Readers for recorded traffic: mitmproxy flow files, HAR 1.2 and GoReplay ``.gor`` files.

``read_exchanges(path)`` tells the format from the first bytes and yields, in file order, a
``RecordedExchange`` for every entry that can be replayed and a ``Skipped`` (with the reason)
for every one that cannot. A damaged file raises ``TrafficFileError`` once the entries before
the damage were yielded, so a caller replays those and reports where reading stopped.
"""

from __future__ import annotations

from parallel_run.replay.formats import detect_format, read_exchanges

__all__ = ["detect_format", "read_exchanges"]
