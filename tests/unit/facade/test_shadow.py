"""Shadow-mode decisions that need no sockets: what is shadowed, how often twins are asked."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from acl.http import HttpRequestData, Translator
from facade.body_spool import SpooledBody
from facade.config import Capability, MatchRule, Shadow
from facade.config.normalize import Target
from facade.lean_http import Answer
from facade.metrics import Metrics
from facade.shadow import MAX_SHADOW_BODY, READ_LIMIT, TWIN_TARGET, answer_size, wants_shadow
from facade.shadow.caller import ShadowCaller
from facade.shadow.handoff import Handoff
from facade.stages import forward
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
        ("OPTIONS", {}, 0.0, True),
        ("TRACE", {}, 0.0, False),  # safe, but its echo would carry credentials to the store
        ("TRACE", {"unsafe_methods": "send"}, 0.0, True),
        ("DELETE", {"unsafe_methods": "send"}, 0.0, True),
        ("GET", {"percent": 25}, 0.24, True),
        ("GET", {"percent": 25}, 0.26, False),
        ("GET", {"percent": 0}, 0.0, False),
    ],
)
def test_what_is_shadowed(method: str, shadow: dict[str, Any], roll: float, expected: bool) -> None:
    assert wants_shadow(capability(**shadow), method, roll) is expected


def test_twins_slow_down_once_a_route_has_enough_of_them() -> None:
    twins: dict[tuple[str, str], int] = {}
    caller = ShadowCaller(Metrics(), Handoff(), twins=twins)
    job: Any = SimpleNamespace(capability="c", route="/x", twin_fraction=0.2)
    assert caller.twin_fraction(job) == 0.2
    twins[("c", "/x")] = TWIN_TARGET  # the compare worker counts them
    assert caller.twin_fraction(job) == pytest.approx(0.02)
    other: Any = SimpleNamespace(capability="c", route="/y", twin_fraction=0.2)
    assert caller.twin_fraction(other) == 0.2  # per route: each learns its own noise


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


async def test_bodies_waiting_for_comparison_are_bounded_in_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics = Metrics()
    handoff = Handoff(max_bytes=3 * 1024**2)
    runner = ShadowCaller(metrics, handoff, twins={})
    big = HttpAnswer(200, (), b"x" * 1024**2)

    async def fetch(_job: Any, _client: Any) -> HttpAnswer:
        return big

    monkeypatch.setattr(runner, "_fetch", fetch)
    job: Any = SimpleNamespace(
        capability="c", route="/x", candidate=SimpleNamespace(name="s"), translator=None,
        twin_fraction=0.0, legacy=HttpAnswer(200, (), b"y" * 100),
    )  # fmt: skip
    runner._in_flight["s"] = 4
    for _ in range(4):
        await runner.call(job)
    # no comparison thread runs here: the first two wait, the next two would pass 3 MiB
    assert handoff.queued == 2
    assert handoff.queued_bytes == 2 * (1024**2 + 100)
    dropped = metrics.shadow_dropped.labels("c", "compare_queue_full")._value.get()
    assert dropped == 2


async def test_a_translated_candidate_is_read_to_the_shadow_limit_and_larger_is_its_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []

    class Pool:
        async def request(self, *_args: Any, max_body: int) -> Answer:
            asked.append(max_body)
            return Answer(200, (), b"x" * max_body)  # a huge answer, cut where asked

    class Identity:
        def request_to_service(self, req: HttpRequestData, /) -> HttpRequestData:
            return req

    runner = ShadowCaller(Metrics(), Handoff(), twins={})
    monkeypatch.setattr(runner, "pool", lambda _config, _client: Pool())
    job: Any = SimpleNamespace(
        method="GET", target=Target("/x", None), headers={}, body=None,
        candidate=SimpleNamespace(name="s"), timeout=5.0, config=None,
    )  # fmt: skip
    answer = await runner._fetch_translated(job, cast(Translator, Identity()))
    assert asked == [READ_LIMIT]  # 1 MiB + 1, as the docs say; never 16 MiB
    assert answer.status is None
    assert answer.error is not None
    assert "not translated" in answer.error


@pytest.mark.parametrize("buffered", [True, False], ids=["in-memory", "spooled"])
async def test_a_request_body_over_the_shadow_limit_is_not_shadowed_wherever_it_is_held(
    tmp_path: Any, buffered: bool
) -> None:
    data = b"x" * (MAX_SHADOW_BODY + 1)
    with (tmp_path / "body").open("w+b", buffering=0) as file:
        file.write(data)
        body: bytes | SpooledBody = data if buffered else SpooledBody(file, len(data))
        metrics = Metrics()
        ex: Any = SimpleNamespace(
            shadow=True, capability_name="c", state=SimpleNamespace(metrics=metrics)
        )
        assert await forward._buffer_for_shadow(ex, body) is body
    assert ex.shadow is False
    assert metrics.shadow_dropped.labels("c", "body_too_large")._value.get() == 1
