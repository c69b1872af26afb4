from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.facade.stages.pipeline import Pipeline, pipeline


@pytest.fixture
def p(tmp_path: Path) -> Iterator[Pipeline]:
    made = pipeline(tmp_path)
    yield made
    for ex in made.made:
        ex.release()  # as Facade.handle does: spooled bodies, unrelayed answers
