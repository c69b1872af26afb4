"""Shadow-mode decisions that need no sockets: what is shadowed, how often twins are asked."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from facade.config import Capability, MatchRule, Shadow
from facade.metrics import Metrics
from facade.shadow import READ_LIMIT, TWIN_TARGET, ShadowRunner, answer_size, wants_shadow
from parallel_run.compare import HttpAnswer


def capability(**shadow: Any) -> Capability:
    return Capability(
        match=(MatchRule(path="/x"),), mode="shadow", service="s", shadow=Shadow(**shadow)
    )


@pytest.mark.parametrize(
    ("method", "shadow", "roll", "expected"),
    [
        ("GET", {}, 0.99, True),
        ("HEAD", {}, 0.0, True),
        ("POST", {}, 0.0, False),  # unsafe methods stay with the monolith by default
        ("DELETE", {"unsafe_methods": "send"}, 0.0, True),
        ("GET", {"percent": 25}, 0.24, True),
        ("GET", {"percent": 25}, 0.26, False),
        ("GET", {"percent": 0}, 0.0, False),
    ],
)
def test_what_is_shadowed(method: str, shadow: dict[str, Any], roll: float, expected: bool) -> None:
    assert wants_shadow(capability(**shadow), method, roll) is expected


def test_twins_slow_down_once_a_route_has_enough_of_them() -> None:
    runner = ShadowRunner(Metrics())
    job: Any = SimpleNamespace(capability="c", route="/x", twin_fraction=0.2)
    assert runner._twin_fraction(job) == 0.2
    runner._twins[("c", "/x")] = TWIN_TARGET
    assert runner._twin_fraction(job) == pytest.approx(0.02)
    other: Any = SimpleNamespace(capability="c", route="/y", twin_fraction=0.2)
    assert runner._twin_fraction(other) == 0.2  # per route: each learns its own noise


@pytest.mark.parametrize(
    ("body", "headers", "size"),
    [
        (b"x" * 10, (("Content-Length", "10"),), 10),
        # read to the limit: the size is what the upstream said it sent
        (b"x" * READ_LIMIT, (("Content-Length", str(5 * 1024**2)),), 5 * 1024**2),
        (b"x" * READ_LIMIT, (), READ_LIMIT),  # chunked or until close: at least this much
        (b"x" * READ_LIMIT, (("Content-Length", "junk"),), READ_LIMIT),
    ],
)
def test_a_cut_answer_is_recorded_with_the_size_it_was_sent_with(
    body: bytes, headers: tuple[tuple[str, str], ...], size: int
) -> None:
    assert answer_size(HttpAnswer(200, headers, body)) == size
