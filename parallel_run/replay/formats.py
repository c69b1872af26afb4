"""Tell a recording's format from its first bytes, and read it with the matching reader."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from parallel_run.errors import TrafficFileError
from parallel_run.flowfile import read_flows
from parallel_run.replay.gor import read_gor
from parallel_run.replay.har import read_har
from parallel_run.traffic import RecordedExchange, Skipped

Format = Literal["mitmproxy", "har", "gor"]
FORMATS: tuple[Format, ...] = ("mitmproxy", "har", "gor")
_GOR_HEAD = re.compile(rb"^[123] [0-9A-Za-z]+ \d+")
_TNETSTRING_HEAD = re.compile(rb"^\d+:")


def detect_format(head: bytes) -> Format | None:
    """``head``: the first bytes of a file. None when it is none of the three."""
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"{"):
        return "har"
    if _GOR_HEAD.match(head):
        return "gor"
    if _TNETSTRING_HEAD.match(head):
        return "mitmproxy"
    return None


def read_exchanges(path: Path) -> Iterator[RecordedExchange | Skipped]:
    """Every entry of the recording at ``path`` (see the package docstring).

    Raises ``TrafficFileError`` for a file of no known format or damaged, and ``OSError``
    when it cannot be opened.
    """
    with path.open("rb") as stream:
        head = stream.read(64)
        stream.seek(0)
        kind = detect_format(head)
        if kind is None:
            if not head:
                return  # an empty recording holds nothing to replay
            raise TrafficFileError(
                path,
                where="byte 0",
                reason="not a mitmproxy flow file, a HAR file or a GoReplay file",
                read=0,
            )
        if kind == "har":
            yield from read_har(path, stream)
        elif kind == "gor":
            yield from read_gor(path, stream)
        else:
            yield from read_flows(path, stream)
