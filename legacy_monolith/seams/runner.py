"""Run one seam call: legacy, new, or both as an experiment, as routes.yaml decides.

``run_seam`` is the abstraction every seam goes through. The call site hands it both
implementations; the new one receives the service it should call (``seams.<name>.service``).

- ``legacy``: the legacy implementation, exactly as before (no file, no seam, or a seam on
  legacy: nothing else happens, not even a log line).
- ``new``: the new implementation. If its service fails (``SeamCallFailed``: unreachable,
  timeout, an answer the ACL cannot translate), ``on_failure`` decides: ``"legacy"`` runs the
  legacy implementation instead (reads, where both give the same answer), ``"error"`` raises
  ``ServiceUnavailable``, a legacy 503 (writes, where running the other side would split the
  truth about stock between two databases). ``NotInService`` from the new implementation
  (the service holds nothing for this call: an order reserved before the switch) hands the
  call to the legacy implementation, which holds it.
- ``experiment``: ``parallel_run.Experiment`` with the legacy implementation as control (its
  value returned, its exception raised) and the new one as candidate (its errors and timeouts
  recorded, never raised), published to the result store as ``seam:<name>``. A service that
  is down costs a ``candidate_error`` observation, never an order.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from facade.config import Config, Service
from legacy_monolith.seams.decide import choose
from legacy_monolith.seams.errors import NotInService, SeamCallFailed, ServiceUnavailable
from legacy_monolith.seams.recording import record_of, recorder_for
from legacy_monolith.seams.switchboard import SWITCHBOARD, Switchboard
from parallel_run.experiment import Experiment, Result

T = TypeVar("T")
log = logging.getLogger("strangler.seams")

_random = random.Random()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The service a new implementation calls: its routes.yaml name and settings."""

    name: str
    settings: Service


def run_seam(
    name: str,
    *,
    legacy: Callable[[], T],
    new: Callable[[Endpoint], T],
    keys: Mapping[str, str] = {},
    clean: Callable[[T], object] = lambda value: value,
    call: str = "",
    on_failure: Literal["legacy", "error"] = "legacy",
    board: Switchboard = SWITCHBOARD,
) -> T:
    """The result of seam ``name`` for this call; see the module docstring."""
    config, seam = board.seam(name)
    choice = choose(name, seam, keys=keys, draw=_random.random)
    if choice == "legacy" or config is None or seam is None or seam.service is None:
        return legacy()
    settings = config.routes.services.get(seam.service)
    if settings is None:  # the schema checks this; a stale config must still not break orders
        return legacy()
    endpoint = Endpoint(seam.service, settings)
    if choice == "new":
        try:
            return new(endpoint)
        except NotInService:
            return legacy()  # begun on the legacy side (before the switch): finished there
        except SeamCallFailed as exc:
            if on_failure == "error":
                log.warning("seam %s: %s; answered 503", name, exc)
                raise ServiceUnavailable(f"{seam.service} unavailable, please retry") from exc
            log.warning("seam %s: %s; served by the legacy implementation", name, exc)
            return legacy()
    return _experiment(name, config, endpoint, legacy=legacy, new=new, clean=clean, call=call)


def _experiment(
    name: str,
    config: Config,
    endpoint: Endpoint,
    *,
    legacy: Callable[[], T],
    new: Callable[[Endpoint], T],
    clean: Callable[[T], object],
    call: str,
) -> T:
    def publish(result: Result[Any]) -> None:
        if not result.candidates:  # the candidate did not run: nothing was compared
            return
        if not recorder_for(config).submit(record_of(result, seam=name, call=call)):
            log.warning("seam %s: observation dropped (the store queue is full)", name)

    settings = endpoint.settings
    experiment: Experiment[T] = Experiment(
        f"seam:{name}",
        clean=clean,
        publish=[publish],
        # the candidate's own HTTP timeout, plus a margin to connect and translate
        candidate_timeout=settings.timeout + settings.connect_timeout,
        context={"seam": name, "service": endpoint.name},
    )
    experiment.control(legacy)
    experiment.candidate(lambda: new(endpoint))
    return experiment.run()
