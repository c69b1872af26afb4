"""Parallel-run experiments: run the legacy path and its candidates, compare, publish.

Modelled on GitHub's Scientist (``experiment.rb``, ``result.rb``) and laboratory. The
*control* is the legacy path: it always runs, its value is returned and its exception
re-raised, so the caller sees exactly what the control alone would give. The *candidates* are
the new paths: their values are compared with the control's, their exceptions and timeouts are
recorded, never raised.

Where this differs from Scientist, on purpose:

- the candidates still run, and the result is published, when the control raises; the
  control's exception is re-raised afterwards;
- an exception inside ``compare``, ``clean``, an ``ignore`` predicate, ``run_if``, the enabled
  draw or a publisher is logged (logger ``strangler.parallel_run``) and recorded in
  ``Result.errors``, never raised (Scientist's default ``raised`` hook re-raises);
- ``clean`` normalizes values *before* they are compared (Scientist cleans for publishing);
- ``ignore`` predicates see both Observations, so they can accept known exception pairs;
- every candidate has a time budget, ``candidate_timeout``.

``run()`` (sync) runs the behaviours one at a time in random order. The control runs in the
caller's thread, so thread-locals (Django's DB connection, say) are the ones it always had.
Each candidate runs in a daemon thread, under a copy of the caller's contextvars, and is waited
for at most its budget. A candidate past its budget is recorded as ``TimeoutError`` and left to
finish in the background: Python cannot stop a thread. Daemon threads rather than a
ThreadPoolExecutor, whose workers are joined at exit: a hung candidate must not hold the
process open. At most ``MAX_CANDIDATE_THREADS`` candidates run at once, so hung ones cannot
pile up; when every slot is taken a candidate is recorded as timed out without running.

``await conduct()`` (async) runs the control, and the candidates concurrently with each other,
each under ``asyncio.timeout``; whether the candidates go before or after the control is drawn
at random. A coroutine candidate is cancelled at its deadline; a plain function runs in a
candidate thread as above, since it would block the event loop. A plain control is called
inline, just as the caller would call it. Publishers are awaited in turn: keep them fast (hand
the result to a queue), since the caller waits for them.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Generic, TypeVar, cast

from parallel_run.errors import BehaviourError, MismatchError, OptionError

T = TypeVar("T")

log = logging.getLogger("strangler.parallel_run")

CONTROL = "control"
MAX_CANDIDATE_THREADS = 16
_thread_slots = threading.BoundedSemaphore(MAX_CANDIDATE_THREADS)


@dataclass(frozen=True, slots=True)
class Observation(Generic[T]):
    """What one behaviour did: its value or exception, and how long it took (seconds).

    ``cleaned_value`` is what ``clean`` made of the value (the value itself without ``clean``,
    or when ``clean`` failed); it is what gets compared.
    """

    name: str
    value: T | None
    exception: Exception | None
    duration: float
    cleaned_value: object = None

    @property
    def raised(self) -> bool:
        return self.exception is not None

    def equivalent_to(
        self,
        other: Observation[T],
        *,
        compare: Callable[[Any, Any], bool] | None = None,
        compare_errors: Callable[[Exception, Exception], bool] | None = None,
    ) -> bool:
        """Scientist's rule: equal cleaned values, or same exception class and message."""
        if self.exception is None and other.exception is None:
            if compare is None:
                return bool(self.cleaned_value == other.cleaned_value)
            return bool(compare(self.cleaned_value, other.cleaned_value))
        if self.exception is not None and other.exception is not None:
            if compare_errors is not None:
                return bool(compare_errors(self.exception, other.exception))
            return type(self.exception) is type(other.exception) and str(self.exception) == str(
                other.exception
            )
        return False


@dataclass(frozen=True, slots=True)
class OperationFailure:
    """An exception from the experiment's own hooks, recorded instead of raised.

    ``operation`` is one of ``"enabled"``, ``"run_if"``, ``"clean"``, ``"compare"``,
    ``"ignore"``, ``"publish"``.
    """

    operation: str
    exception: Exception


@dataclass(frozen=True, slots=True)
class Result(Generic[T]):
    """One conducted experiment, as handed to the publishers.

    ``mismatched`` and ``ignored`` are tuples of candidate Observations, so ``if
    result.mismatched:`` reads as Scientist's ``mismatched?``. ``candidates`` is empty when
    ``run_if`` or the enabled draw raised: the candidates did not run, ``errors`` says why.
    """

    name: str
    control: Observation[T]
    candidates: tuple[Observation[T], ...]
    mismatched: tuple[Observation[T], ...]
    ignored: tuple[Observation[T], ...]
    context: Mapping[str, object]
    errors: tuple[OperationFailure, ...] = ()

    @property
    def matched(self) -> bool:
        """Every candidate agreed with the control (and there was one)."""
        return bool(self.candidates) and not self.mismatched and not self.ignored


class Experiment(Generic[T]):
    """A control (the legacy path) and candidates; ``run()`` or ``await conduct()`` it.

    ``enabled`` is the percentage of runs in which the candidates run; ``run_if`` can veto a
    run. When either says no, only the control runs and nothing is published. An experiment
    holds no per-run state: one instance may be run by many threads or tasks at once.
    """

    def __init__(
        self,
        name: str,
        *,
        compare: Callable[[Any, Any], bool] | None = None,
        compare_errors: Callable[[Exception, Exception], bool] | None = None,
        clean: Callable[[T], object] | None = None,
        ignore: Iterable[Callable[[Observation[T], Observation[T]], bool]] = (),
        publish: Iterable[Callable[[Result[T]], Awaitable[None] | None]] = (),
        run_if: Callable[[], bool] | None = None,
        enabled: float = 100.0,
        context: Mapping[str, object] | None = None,
        raise_on_mismatches: bool = False,
        candidate_timeout: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        if not 0.0 <= enabled <= 100.0:
            raise OptionError(
                f"experiment {name!r}: enabled={enabled!r} is not a percentage;"
                " give a number from 0 (never) to 100 (always)"
            )
        if not (math.isfinite(candidate_timeout) and candidate_timeout > 0):
            raise OptionError(
                f"experiment {name!r}: candidate_timeout={candidate_timeout!r};"
                " give every candidate a positive, finite budget in seconds"
            )
        self.name = name
        self._compare = compare
        self._compare_errors = compare_errors
        self._clean = clean
        self._ignores = list(ignore)
        self._publishers = list(publish)
        self._run_if = run_if
        self._enabled = enabled
        self._context = MappingProxyType(dict(context or {}))
        self._raise_on_mismatches = raise_on_mismatches
        self._candidate_timeout = candidate_timeout
        self._rng = rng if rng is not None else random.Random()
        self._control: Callable[[], Any] | None = None
        self._candidates: dict[str, Callable[[], Any]] = {}

    # -- builder verbs -------------------------------------------------------------------

    def control(self, fn: Callable[[], T] | Callable[[], Awaitable[T]]) -> None:
        """Register the legacy path: its value or exception is what the caller gets."""
        if self._control is not None:
            raise BehaviourError(
                f"experiment {self.name!r} already has a control; an experiment has exactly one"
            )
        self._control = fn

    def candidate(
        self, fn: Callable[[], T] | Callable[[], Awaitable[T]], *, name: str = "candidate"
    ) -> None:
        """Register a new path; its exceptions and timeouts are recorded, never raised."""
        if name == CONTROL:
            raise BehaviourError(
                f"experiment {self.name!r}: {CONTROL!r} names the control;"
                " give the candidate another name"
            )
        if name in self._candidates:
            raise BehaviourError(
                f"experiment {self.name!r} already has a candidate named {name!r};"
                " pass name=... to tell candidates apart"
            )
        self._candidates[name] = fn

    def ignore(self, predicate: Callable[[Observation[T], Observation[T]], bool]) -> None:
        """Accept a known difference: ``predicate(control, candidate)`` True means ignored."""
        self._ignores.append(predicate)

    def clean(self, fn: Callable[[T], object]) -> None:
        """Normalize each value before it is compared (replaces any earlier ``clean``)."""
        self._clean = fn

    def compare(self, fn: Callable[[Any, Any], bool]) -> None:
        """Compare cleaned values with ``fn`` instead of ``==`` (replaces any earlier one)."""
        self._compare = fn

    # -- running -------------------------------------------------------------------------

    def run(self) -> T:
        """Run the experiment synchronously; return the control's value or raise its error."""
        control, candidates = self._behaviours(sync=True)
        if not candidates:
            return cast(T, control())
        errors: list[OperationFailure] = []
        active = self._gate(errors)
        if not active and not errors:
            return cast(T, control())  # exactly the control alone: nothing observed or published
        names = [CONTROL, *candidates] if active else [CONTROL]
        self._rng.shuffle(names)
        observed: dict[str, Observation[T]] = {}
        for name in names:
            if name == CONTROL:
                observed[name] = self._observe_control(control, errors)
            else:
                observed[name] = self._observe_candidate(name, candidates[name], errors)
        result = self._result(
            observed[CONTROL], [observed[n] for n in candidates if n in observed], errors
        )
        return self._outcome(self._publish(result))

    async def conduct(self) -> T:
        """Run the experiment on the event loop; return the control's value or raise its error.

        Behaviours and publishers may be coroutine functions or plain ones.
        """
        control, candidates = self._behaviours(sync=False)
        if not candidates:
            return cast(T, await _resolve(control()))
        errors: list[OperationFailure] = []
        active = self._gate(errors)
        if not active and not errors:
            return cast(T, await _resolve(control()))
        names = list(candidates) if active else []
        self._rng.shuffle(names)  # start order among the candidates

        async def trials() -> list[Observation[T]]:
            # created only when awaited: a control that is cancelled leaves no coroutine behind
            return await asyncio.gather(
                *(self._observe_candidate_async(n, candidates[n], errors) for n in names)
            )

        if self._rng.random() < 0.5:
            observed_control = await self._observe_control_async(control, errors)
            observed = await trials()
        else:
            observed = await trials()
            observed_control = await self._observe_control_async(control, errors)
        by_name = {observation.name: observation for observation in observed}
        result = self._result(
            observed_control, [by_name[n] for n in candidates if n in by_name], errors
        )
        return self._outcome(await self._publish_async(result))

    # -- internals -----------------------------------------------------------------------

    def _behaviours(self, *, sync: bool) -> tuple[Callable[[], Any], dict[str, Callable[[], Any]]]:
        if self._control is None:
            raise BehaviourError(
                f"experiment {self.name!r} has no control;"
                " register the legacy path with experiment.control(fn) first"
            )
        if sync:
            for name, fn in [(CONTROL, self._control), *self._candidates.items()]:
                if inspect.iscoroutinefunction(fn):
                    raise BehaviourError(
                        f"experiment {self.name!r}: {name} is a coroutine function, which run()"
                        " cannot await; use await experiment.conduct()"
                    )
        return self._control, dict(self._candidates)

    def _gate(self, errors: list[OperationFailure]) -> bool:
        """Whether the candidates run this time. A gate that raises stays shut."""
        try:
            if self._enabled < 100.0 and not self._rng.random() * 100.0 < self._enabled:
                return False
        except Exception as exc:
            self._record(errors, "enabled", exc)
            return False
        if self._run_if is None:
            return True
        try:
            return bool(self._run_if())
        except Exception as exc:
            self._record(errors, "run_if", exc)
            return False

    def _observe_control(
        self, control: Callable[[], Any], errors: list[OperationFailure]
    ) -> Observation[T]:
        started = time.perf_counter()
        try:
            value = control()
        except Exception as exc:  # re-raised to the caller once the candidates ran
            return self._observed(CONTROL, None, exc, started, errors)
        return self._observed(CONTROL, value, None, started, errors)

    async def _observe_control_async(
        self, control: Callable[[], Any], errors: list[OperationFailure]
    ) -> Observation[T]:
        started = time.perf_counter()
        try:
            value = await _resolve(control())
        except Exception as exc:
            return self._observed(CONTROL, None, exc, started, errors)
        return self._observed(CONTROL, value, None, started, errors)

    def _observe_candidate(
        self, name: str, candidate: Callable[[], Any], errors: list[OperationFailure]
    ) -> Observation[T]:
        started = time.perf_counter()
        try:
            future = _start_thread(candidate, label=f"{self.name}.{name}")
            try:
                exception = future.exception(timeout=self._candidate_timeout)
            except TimeoutError:
                raise self._over_budget(name) from None
            if exception is not None:
                raise exception
            value = future.result()
            if inspect.iscoroutine(value):
                value.close()  # never awaited: close it rather than warn at garbage collection
                raise BehaviourError(
                    f"experiment {self.name!r}: candidate {name!r} returned a coroutine, which"
                    " run() cannot await; use await experiment.conduct()"
                )
        except Exception as exc:
            return self._observed(name, None, exc, started, errors)
        return self._observed(name, value, None, started, errors)

    async def _observe_candidate_async(
        self, name: str, candidate: Callable[[], Any], errors: list[OperationFailure]
    ) -> Observation[T]:
        started = time.perf_counter()
        deadline = asyncio.timeout(self._candidate_timeout)
        try:
            async with deadline:
                if inspect.iscoroutinefunction(candidate):
                    outcome = candidate()
                else:  # a plain function would block the loop: give it a thread
                    thread = _start_thread(candidate, label=f"{self.name}.{name}")
                    outcome = await asyncio.wrap_future(thread)
                value = await _resolve(outcome)
        except TimeoutError as exc:
            # a TimeoutError the candidate raised itself is recorded as it is
            failure = self._over_budget(name) if deadline.expired() else exc
            return self._observed(name, None, failure, started, errors)
        except Exception as exc:
            return self._observed(name, None, exc, started, errors)
        return self._observed(name, value, None, started, errors)

    def _over_budget(self, name: str) -> TimeoutError:
        return TimeoutError(
            f"experiment {self.name!r}: candidate {name!r} did not finish within its"
            f" {self._candidate_timeout:g}s budget"
        )

    def _observed(
        self,
        name: str,
        value: Any,
        exception: Exception | None,
        started: float,
        errors: list[OperationFailure],
    ) -> Observation[T]:
        duration = time.perf_counter() - started  # before clean: it times the behaviour only
        cleaned = value
        if exception is None and self._clean is not None:
            try:
                cleaned = self._clean(value)
            except Exception as exc:
                self._record(errors, "clean", exc)
        return Observation(name, value, exception, duration, cleaned)

    def _result(
        self,
        control: Observation[T],
        candidates: list[Observation[T]],
        errors: list[OperationFailure],
    ) -> Result[T]:
        mismatched: list[Observation[T]] = []
        ignored: list[Observation[T]] = []
        for candidate in candidates:
            if not self._equivalent(control, candidate, errors):
                ignorable = self._ignorable(control, candidate, errors)
                (ignored if ignorable else mismatched).append(candidate)
        return Result(
            name=self.name,
            control=control,
            candidates=tuple(candidates),
            mismatched=tuple(mismatched),
            ignored=tuple(ignored),
            context=self._context,
            errors=tuple(errors),
        )

    def _equivalent(
        self, control: Observation[T], candidate: Observation[T], errors: list[OperationFailure]
    ) -> bool:
        try:
            return control.equivalent_to(
                candidate, compare=self._compare, compare_errors=self._compare_errors
            )
        except Exception as exc:
            self._record(errors, "compare", exc)
            return False  # a comparison that fails proves nothing: count a mismatch

    def _ignorable(
        self, control: Observation[T], candidate: Observation[T], errors: list[OperationFailure]
    ) -> bool:
        for predicate in self._ignores:
            try:
                if predicate(control, candidate):
                    return True
            except Exception as exc:
                self._record(errors, "ignore", exc)
        return False

    def _publish(self, result: Result[T]) -> Result[T]:
        for publisher in self._publishers:
            try:
                if inspect.isawaitable(outcome := publisher(result)):
                    if inspect.iscoroutine(outcome):
                        outcome.close()
                    raise BehaviourError(
                        f"experiment {self.name!r}: publisher {publisher!r} returned an"
                        " awaitable, which run() cannot await; use a plain function or conduct()"
                    )
            except Exception as exc:
                result = self._publish_failed(result, exc)
        return result

    async def _publish_async(self, result: Result[T]) -> Result[T]:
        for publisher in self._publishers:
            try:
                await _resolve(publisher(result))
            except Exception as exc:
                result = self._publish_failed(result, exc)
        return result

    def _publish_failed(self, result: Result[T], exc: Exception) -> Result[T]:
        # later publishers (and a MismatchError) see the failure; the caller never does
        errors: list[OperationFailure] = []
        self._record(errors, "publish", exc)
        return replace(result, errors=(*result.errors, *errors))

    def _record(self, errors: list[OperationFailure], operation: str, exc: Exception) -> None:
        log.error(
            "experiment %r: %s raised %r; recorded in the result, not raised",
            self.name,
            operation,
            exc,
            exc_info=exc,
        )
        errors.append(OperationFailure(operation, exc))

    def _outcome(self, result: Result[T]) -> T:
        if self._raise_on_mismatches and result.mismatched:
            raise MismatchError(result)
        if result.control.exception is not None:
            raise result.control.exception
        return cast(T, result.control.value)


def science(
    name: str, *, control: Callable[[], T], candidate: Callable[[], T], **options: Any
) -> T:
    """Run a one-shot sync experiment, for a seam: ``options`` are Experiment's."""
    experiment: Experiment[T] = Experiment(name, **options)
    experiment.control(control)
    experiment.candidate(candidate)
    return experiment.run()


async def _resolve(outcome: Any) -> Any:
    return await outcome if inspect.isawaitable(outcome) else outcome


def _start_thread(fn: Callable[[], Any], *, label: str) -> Future[Any]:
    """Call ``fn`` in a daemon thread under the caller's contextvars; its Future."""
    if not _thread_slots.acquire(blocking=False):
        raise TimeoutError(
            f"{label}: all {MAX_CANDIDATE_THREADS} candidate threads are busy"
            " (earlier candidates still running past their budget); not run"
        )
    future: Future[Any] = Future()
    context = contextvars.copy_context()

    def work() -> None:
        # running futures cannot be cancelled: asyncio.wrap_future's cancel at a deadline
        # must not make set_result fail in this thread
        future.set_running_or_notify_cancel()
        try:
            future.set_result(context.run(fn))
        except Exception as exc:
            future.set_exception(exc)
        finally:
            _thread_slots.release()

    try:
        threading.Thread(target=work, name=f"candidate:{label}", daemon=True).start()
    except BaseException:
        _thread_slots.release()
        raise
    return future
