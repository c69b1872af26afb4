"""Experiments: Scientist's features, and the traps it leaves open, closed."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parallel_run import (
    BehaviourError,
    Experiment,
    MismatchError,
    Observation,
    OptionError,
    Result,
    science,
)
from parallel_run import experiment as experiment_module

LOGGER = "strangler.parallel_run"


class Published:
    """A publisher that keeps every result it is given."""

    def __init__(self) -> None:
        self.results: list[Result[Any]] = []

    def __call__(self, result: Result[Any]) -> None:
        self.results.append(result)

    @property
    def only(self) -> Result[Any]:
        assert len(self.results) == 1
        return self.results[0]


def experiment(
    control: Callable[[], Any] = lambda: 1,
    candidate: Callable[[], Any] | None = lambda: 1,
    **options: Any,
) -> tuple[Experiment[Any], Published]:
    published = Published()
    options.setdefault("rng", random.Random(7))
    # the recording publisher goes last: it sees what earlier publishers' failures recorded
    exp: Experiment[Any] = Experiment(
        "demo", publish=[*options.pop("publish", []), published], **options
    )
    exp.control(control)
    if candidate is not None:
        exp.candidate(candidate)
    return exp, published


def boom(*args: object) -> Any:
    raise ValueError("boom")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown, so candidates left hanging past their budget finish."""
    event = threading.Event()
    yield event
    event.set()


# -- the control -----------------------------------------------------------------------


def test_the_control_value_is_returned() -> None:
    exp, published = experiment(control=lambda: "legacy", candidate=lambda: "new")
    assert exp.run() == "legacy"
    assert published.only.control.value == "legacy"


def test_the_control_exception_is_reraised_after_candidates_ran_and_publishing() -> None:
    ran: list[str] = []
    error = KeyError("sku")

    def control() -> int:
        raise error

    exp, published = experiment(control=control, candidate=lambda: ran.append("candidate"))
    with pytest.raises(KeyError) as raised:
        exp.run()
    assert raised.value is error
    assert ran == ["candidate"]
    assert published.only.control.exception is error
    assert published.only.mismatched


def test_with_no_candidate_only_the_control_runs_and_nothing_is_published() -> None:
    exp, published = experiment(control=lambda: 3, candidate=None)
    assert exp.run() == 3
    assert published.results == []


# -- candidates ------------------------------------------------------------------------


def test_a_candidate_exception_is_recorded_and_never_raised() -> None:
    exp, published = experiment(control=lambda: 1, candidate=boom)
    assert exp.run() == 1
    (candidate,) = published.only.candidates
    assert candidate.raised
    assert isinstance(candidate.exception, ValueError)
    assert published.only.mismatched == (candidate,)


def test_a_slow_candidate_is_recorded_as_a_timeout_and_the_call_returns_within_budget(
    release: threading.Event,
) -> None:
    exp, published = experiment(
        control=lambda: 1, candidate=lambda: release.wait(10), candidate_timeout=0.05
    )
    started = time.perf_counter()
    assert exp.run() == 1
    assert time.perf_counter() - started < 2.0  # 0.05s budget; generous for slow machines
    (candidate,) = published.only.candidates
    assert isinstance(candidate.exception, TimeoutError)
    assert "0.05s budget" in str(candidate.exception)


def test_when_every_candidate_thread_is_busy_a_candidate_is_recorded_without_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy = threading.BoundedSemaphore(1)
    busy.acquire()  # as if a hung candidate held the only thread
    monkeypatch.setattr(experiment_module, "_thread_slots", busy)
    ran: list[str] = []
    exp, published = experiment(candidate=lambda: ran.append("candidate"))
    assert exp.run() == 1
    assert ran == []
    assert "busy" in str(published.only.candidates[0].exception)


def test_a_candidate_runs_under_the_callers_contextvars() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    request_id.set("r-1")
    exp, published = experiment(control=lambda: "r-1", candidate=request_id.get)
    exp.run()
    assert published.only.matched


def test_several_candidates_are_each_compared() -> None:
    exp, published = experiment(control=lambda: 1, candidate=lambda: 1)
    exp.candidate(lambda: 2, name="rewrite")
    exp.candidate(boom, name="broken")
    assert exp.run() == 1
    result = published.only
    assert [c.name for c in result.candidates] == ["candidate", "rewrite", "broken"]
    assert [c.name for c in result.mismatched] == ["rewrite", "broken"]
    assert not result.matched


def test_behaviours_run_in_both_orders() -> None:
    order: list[str] = []
    exp, _ = experiment(
        control=lambda: order.append("control"),
        candidate=lambda: order.append("candidate"),
        rng=random.Random(3),
    )
    firsts = set()
    for _ in range(40):
        order.clear()
        exp.run()
        firsts.add(order[0])
    assert firsts == {"control", "candidate"}


def test_durations_are_recorded() -> None:
    exp, published = experiment(
        control=lambda: time.sleep(0.02), candidate=lambda: time.sleep(0.04)
    )
    exp.run()
    assert published.only.control.duration >= 0.019
    assert published.only.candidates[0].duration >= 0.039


def test_context_reaches_the_result() -> None:
    exp, published = experiment(context={"path": "/api/products", "user": 7})
    exp.run()
    assert published.only.context == {"path": "/api/products", "user": 7}


# -- gates -----------------------------------------------------------------------------


def test_run_if_false_runs_only_the_control_and_publishes_nothing() -> None:
    ran: list[str] = []
    exp, published = experiment(candidate=lambda: ran.append("candidate"), run_if=lambda: False)
    assert exp.run() == 1
    assert ran == []
    assert published.results == []


@pytest.mark.parametrize(("enabled", "expected"), [(0, 0), (100, 200)])
def test_enabled_zero_never_runs_candidates_and_a_hundred_always_does(
    enabled: float, expected: int
) -> None:
    exp, published = experiment(enabled=enabled)
    for _ in range(200):
        exp.run()
    assert len(published.results) == expected


def test_enabled_fifty_runs_candidates_about_half_the_time() -> None:
    exp, published = experiment(enabled=50, rng=random.Random(42))
    for _ in range(400):
        exp.run()
    assert 150 < len(published.results) < 250


# -- comparing -------------------------------------------------------------------------


def test_values_that_differ_are_a_mismatch() -> None:
    exp, published = experiment(control=lambda: {"a": 1}, candidate=lambda: {"a": 2})
    exp.run()
    assert published.only.mismatched
    assert not published.only.matched


def test_the_same_exception_class_and_message_is_a_match() -> None:
    exp, published = experiment(control=boom, candidate=boom)
    with pytest.raises(ValueError, match="boom"):
        exp.run()
    assert published.only.matched


def test_a_custom_compare_decides_what_matches() -> None:
    exp, published = experiment(control=lambda: 1.0, candidate=lambda: 1.0000001)
    exp.compare(lambda a, b: abs(a - b) < 1e-3)
    exp.run()
    assert published.only.matched


def test_compare_errors_decides_which_exceptions_match() -> None:
    empty: dict[str, int] = {}
    exp, published = experiment(
        control=lambda: empty["a"],
        candidate=lambda: empty["b"],
        compare_errors=lambda a, b: type(a) is type(b),
    )
    with pytest.raises(KeyError):
        exp.run()
    assert published.only.matched


def test_clean_normalizes_values_before_compare() -> None:
    exp, published = experiment(
        control=lambda: {"sku": "A1", "generated_at": 1}, candidate=lambda: {"sku": "A1"}
    )
    exp.clean(lambda value: {k: v for k, v in value.items() if k != "generated_at"})
    assert exp.run() == {"sku": "A1", "generated_at": 1}  # the caller gets the raw value
    result = published.only
    assert result.matched
    assert result.control.cleaned_value == {"sku": "A1"}


def test_an_ignore_predicate_turns_a_mismatch_into_an_ignored_one() -> None:
    def both_not_found(control: Observation[Any], candidate: Observation[Any]) -> bool:
        return control.value == 404 and candidate.value == 410

    exp, published = experiment(control=lambda: 404, candidate=lambda: 410)
    exp.ignore(lambda control, candidate: False)
    exp.ignore(both_not_found)
    exp.run()
    result = published.only
    assert result.ignored == result.candidates
    assert not result.mismatched
    assert not result.matched


# -- the hooks never raise -------------------------------------------------------------


class Flaky(random.Random):
    def random(self) -> float:
        raise RuntimeError("no entropy")


HOOK_FAILURES: dict[str, dict[str, Any]] = {
    "enabled": {"enabled": 50, "rng": Flaky()},
    "run_if": {"run_if": boom},
    "clean": {"clean": boom},
    "compare": {"compare": boom},
    "ignore": {"candidate": lambda: 2, "ignore": [boom]},
    "publish": {"publish": [boom]},
}


@pytest.mark.parametrize("operation", list(HOOK_FAILURES))
def test_a_failing_hook_is_recorded_and_logged_never_raised(
    operation: str, caplog: pytest.LogCaptureFixture
) -> None:
    options = dict(HOOK_FAILURES[operation])
    candidate = options.pop("candidate", lambda: 1)
    exp, published = experiment(control=lambda: 1, candidate=candidate, **options)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        assert exp.run() == 1
    failures = [(f.operation, type(f.exception)) for f in published.only.errors]
    assert (operation, RuntimeError if operation == "enabled" else ValueError) in failures
    assert any(operation in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_failing_gate_stays_shut_and_publishes_why() -> None:
    ran: list[str] = []
    exp, published = experiment(candidate=lambda: ran.append("candidate"), run_if=boom)
    assert exp.run() == 1
    assert ran == []
    assert published.only.candidates == ()
    assert not published.only.matched


def test_a_failing_compare_counts_as_a_mismatch() -> None:
    exp, published = experiment(compare=boom)
    exp.run()
    assert published.only.mismatched


def test_a_failing_publisher_does_not_stop_the_next() -> None:
    exp, published = experiment(publish=[boom, boom])
    assert exp.run() == 1
    assert [f.operation for f in published.only.errors] == ["publish", "publish"]


def test_an_async_publisher_in_run_is_recorded_not_awaited() -> None:
    async def publisher(result: Result[Any]) -> None:
        pass

    exp, published = experiment(publish=[publisher])
    assert exp.run() == 1
    (failure,) = published.only.errors
    assert isinstance(failure.exception, BehaviourError)
    assert "conduct()" in str(failure.exception)


# -- raise_on_mismatches ---------------------------------------------------------------


def test_raise_on_mismatches_raises_a_mismatch_error_with_the_result_after_publishing() -> None:
    exp, published = experiment(control=lambda: 1, candidate=lambda: 2, raise_on_mismatches=True)
    with pytest.raises(MismatchError) as raised:
        exp.run()
    assert raised.value.result.mismatched
    assert raised.value.result == published.only
    assert "candidate: returned 2" in str(raised.value)


def test_raise_on_mismatches_lets_matches_and_ignored_ones_through() -> None:
    exp, _ = experiment(raise_on_mismatches=True)
    assert exp.run() == 1
    exp, _ = experiment(candidate=lambda: 2, raise_on_mismatches=True, ignore=[lambda c, d: True])
    assert exp.run() == 1


# -- misuse ----------------------------------------------------------------------------


def test_misuse_is_refused_with_a_message_saying_what_to_do() -> None:
    exp: Experiment[int] = Experiment("demo")
    with pytest.raises(BehaviourError, match=r"experiment\.control\(fn\)"):
        exp.run()
    exp.control(lambda: 1)
    with pytest.raises(BehaviourError, match="exactly one"):
        exp.control(lambda: 1)
    exp.candidate(lambda: 1)
    with pytest.raises(BehaviourError, match="name="):
        exp.candidate(lambda: 1)
    with pytest.raises(BehaviourError, match="another name"):
        exp.candidate(lambda: 1, name="control")


async def test_run_refuses_coroutine_behaviours() -> None:
    async def new() -> int:
        return 1

    exp, _ = experiment(candidate=new)
    with pytest.raises(BehaviourError, match=r"conduct\(\)"):
        exp.run()


@pytest.mark.parametrize(
    "options",
    [{"enabled": 101}, {"enabled": -1}, {"enabled": float("nan")}, {"candidate_timeout": 0}],
)
def test_options_out_of_range_are_refused_quoting_the_value(options: dict[str, float]) -> None:
    ((key, value),) = options.items()
    with pytest.raises(OptionError, match=f"{key}={value!r}"):
        Experiment("demo", **options)  # type: ignore[arg-type]


def test_science_is_a_one_shot_experiment() -> None:
    published = Published()
    assert science("seam", control=lambda: 1, candidate=lambda: 2, publish=[published]) == 1
    assert published.only.mismatched


# -- async -----------------------------------------------------------------------------


async def test_conduct_returns_the_control_value_from_coroutines() -> None:
    async def legacy() -> str:
        return "legacy"

    async def new() -> str:
        return "legacy"

    exp, published = experiment(control=legacy, candidate=new)
    assert await exp.conduct() == "legacy"
    assert published.only.matched


async def test_conduct_reraises_the_control_exception_after_the_candidates_ran() -> None:
    ran: list[str] = []

    async def legacy() -> int:
        raise KeyError("sku")

    async def new() -> int:
        ran.append("candidate")
        raise ValueError("different")

    exp, published = experiment(control=legacy, candidate=new)
    with pytest.raises(KeyError):
        await exp.conduct()
    assert ran == ["candidate"]
    assert isinstance(published.only.candidates[0].exception, ValueError)


async def test_conduct_times_out_a_slow_coroutine_candidate_within_budget() -> None:
    async def slow() -> int:
        await asyncio.sleep(10)
        return 1

    exp, published = experiment(candidate=slow, candidate_timeout=0.05)
    started = time.perf_counter()
    assert await exp.conduct() == 1
    assert time.perf_counter() - started < 2.0
    assert isinstance(published.only.candidates[0].exception, TimeoutError)


async def test_conduct_times_out_a_slow_plain_candidate_in_its_thread(
    release: threading.Event,
) -> None:
    exp, published = experiment(candidate=lambda: release.wait(10), candidate_timeout=0.05)
    started = time.perf_counter()
    assert await exp.conduct() == 1
    assert time.perf_counter() - started < 2.0
    assert "budget" in str(published.only.candidates[0].exception)


async def test_a_timeout_the_candidate_raises_itself_is_recorded_as_it_is() -> None:
    async def new() -> int:
        raise TimeoutError("upstream said so")

    exp, published = experiment(candidate=new)
    await exp.conduct()
    assert str(published.only.candidates[0].exception) == "upstream said so"


async def test_conduct_runs_candidates_concurrently() -> None:
    started: list[str] = []
    all_started = asyncio.Event()

    async def new() -> int:
        # returns only once all three run at the same time; one at a time, each would time out
        started.append("candidate")
        if len(started) == 3:
            all_started.set()
        await all_started.wait()
        return 1

    exp, published = experiment(candidate=new, candidate_timeout=5.0)
    exp.candidate(new, name="second")
    exp.candidate(new, name="third")
    await exp.conduct()
    assert published.only.matched


async def test_conduct_runs_the_control_before_and_after_the_candidates() -> None:
    order: list[str] = []

    async def legacy() -> None:
        order.append("control")

    async def new() -> None:
        order.append("candidate")

    exp, _ = experiment(control=legacy, candidate=new, rng=random.Random(5))
    firsts = set()
    for _ in range(40):
        order.clear()
        await exp.conduct()
        firsts.add(order[0])
    assert firsts == {"control", "candidate"}


async def test_conduct_awaits_async_publishers_and_records_their_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Result[Any]] = []

    async def failing(result: Result[Any]) -> None:
        raise ValueError("store is down")

    async def store(result: Result[Any]) -> None:
        seen.append(result)

    exp, _ = experiment(publish=[failing, store])
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        assert await exp.conduct() == 1
    assert [f.operation for f in seen[0].errors] == ["publish"]
    assert "store is down" in caplog.text


async def test_conduct_run_if_false_runs_only_the_control() -> None:
    ran: list[str] = []

    async def new() -> None:
        ran.append("candidate")

    exp, published = experiment(candidate=new, run_if=lambda: False)
    assert await exp.conduct() == 1
    assert ran == []
    assert published.results == []


# -- the caller sees exactly what the control alone gives ------------------------------


@dataclass(frozen=True)
class Outcome:
    value: object = None
    error: type[Exception] | None = None
    message: str = ""

    def behave(self) -> object:
        if self.error is not None:
            raise self.error(self.message)
        return self.value


outcomes = st.one_of(
    st.builds(
        Outcome, value=st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers()))
    ),
    st.builds(
        Outcome,
        error=st.sampled_from([ValueError, KeyError, RuntimeError, TimeoutError]),
        message=st.text(max_size=10),
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    control=outcomes,
    candidate=outcomes,
    seed=st.integers(0, 2**32),
    enabled=st.sampled_from([0.0, 50.0, 100.0]),
    asynchronous=st.booleans(),
)
def test_the_caller_sees_exactly_what_the_control_alone_gives(
    control: Outcome, candidate: Outcome, seed: int, enabled: float, asynchronous: bool
) -> None:
    returned: list[object] = []

    def legacy() -> object:
        try:
            value = control.behave()
        except Exception as exc:
            returned.append(exc)
            raise
        returned.append(value)
        return value

    exp: Experiment[object] = Experiment(
        "property", rng=random.Random(seed), enabled=enabled, publish=[boom]
    )
    exp.control(legacy)
    exp.candidate(candidate.behave)
    exp.candidate(boom, name="broken")

    def call() -> object:
        return asyncio.run(exp.conduct()) if asynchronous else exp.run()

    if control.error is None:
        assert call() is returned[-1]
    else:
        with pytest.raises(control.error) as raised:
            call()
        assert raised.value is returned[-1]
    assert len(returned) == 1  # the control ran exactly once
