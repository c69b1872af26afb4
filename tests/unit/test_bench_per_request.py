"""bench/per_request.py: the CPU clock it reads and the areas it gives py-spy's samples to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.per_request import areas, cpu_seconds


def test_cpu_seconds_grows_with_work() -> None:
    before = cpu_seconds(os.getpid())
    total = 0
    while cpu_seconds(os.getpid()) - before < 0.02:  # a clock tick is 10 ms
        total += sum(range(10_000))
    assert cpu_seconds(os.getpid()) > before


def test_areas_take_the_innermost_named_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "prof.txt"
    raw.write_text(
        # the header step inside the handler: headers, not the handler
        "Facade.handle (facade/app.py:154);stage (facade/stages/route.py:17);"
        "valid_authority (facade/headers.py:190) 3\n"
        # an id minted by the handler: ids, though headers.py names it too
        "Facade.handle (facade/app.py:150);request_id_from (facade/headers.py:250) 1\n"
    )
    areas(raw, 200.0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "4 samples"
    rows = {line[:26].strip(): line[26:].split() for line in lines[1:]}
    assert rows == {
        "headers": ["75.0%", "150.0", "µs/request"],
        "ids": ["25.0%", "50.0", "µs/request"],
    }
