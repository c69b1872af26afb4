"""``seam(name).run(legacy=..., new=...)``: one call through a seam, as routes.yaml decides.

The call site hands both implementations; the new one receives the service it should call
(``seams.<name>.service``) as an ``Endpoint``.

- ``legacy``: the legacy implementation, exactly as before (no file, no seam, or a seam on
  legacy: nothing else happens, not even a log line).
- ``new``: the new implementation for ``percent`` of the calls. If its service fails
  (``SeamCallFailed``), ``on_failure`` decides: ``"legacy"`` runs the legacy implementation
  instead (reads, where both give the same answer), ``"error"`` raises ``ServiceUnavailable``
  (writes, where running the other side would split the truth between two databases).
  ``NotInService`` hands the call to the legacy implementation, which holds it.
- ``experiment``: ``parallel_run.Experiment`` with the legacy implementation as control (its
  value returned, its exception raised) and the new one as candidate (its errors and timeouts
  recorded, never raised), published to the result store as ``seam:<name>`` by
  ``parallel_run.publish.StorePublisher`` (one path for every Experiment), so
  ``strangler report`` shows it. A service that is down costs an observation, never a request.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from facade.config import Config, Service
from parallel_run.experiment import Experiment
from strangler_django.decide import Choice, choose
from strangler_django.errors import NotInService, SeamCallFailed, ServiceUnavailable
from strangler_django.recording import publisher_for
from strangler_django.switchboard import SWITCHBOARD, Switchboard

T = TypeVar("T")
log = logging.getLogger("strangler.seams")

_random = random.Random()
_NO_KEYS: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The service a new implementation calls: its routes.yaml name and settings."""

    name: str
    settings: Service


def _identity(value: object) -> object:
    return value


@dataclass(frozen=True, slots=True)
class Seam:
    """One named seam of the project; ``seam("pricing")`` makes one, cheaply, per call."""

    name: str
    board: Switchboard = SWITCHBOARD

    def choice(self, *, keys: Mapping[str, str] = _NO_KEYS) -> Choice:
        """Which side a call with ``keys`` would take now (draws at random without sticky)."""
        _, settings = self.board.seam(self.name)
        return choose(self.name, settings, keys=keys, draw=_random.random)

    def run(
        self,
        *,
        legacy: Callable[[], T],
        new: Callable[[Endpoint], T],
        keys: Mapping[str, str] = _NO_KEYS,
        clean: Callable[[T], object] = _identity,
        call: str = "",
        on_failure: Literal["legacy", "error"] = "legacy",
    ) -> T:
        """The result of this seam for one call; see the module docstring.

        ``keys`` are the values ``sticky:`` may name (``{"customer": "42"}``); ``clean``
        turns a value into what is compared (JSON-able); ``call`` names the call in the
        store (``price_order_lines customer 42``)."""
        config, settings = self.board.seam(self.name)
        chosen = choose(self.name, settings, keys=keys, draw=_random.random)
        if chosen == "legacy" or config is None or settings is None or settings.service is None:
            return legacy()
        service = config.routes.services.get(settings.service)
        if service is None:  # the schema checks this; a stale config must still not break calls
            return legacy()
        endpoint = Endpoint(settings.service, service)
        if chosen == "new":
            try:
                return new(endpoint)
            except NotInService:
                return legacy()  # begun on the legacy side (before the switch): finished there
            except SeamCallFailed as exc:
                if on_failure == "error":
                    log.warning("seam %s: %s; answered unavailable", self.name, exc)
                    raise ServiceUnavailable(self.name, endpoint.name) from exc
                log.warning("seam %s: %s; served by the legacy implementation", self.name, exc)
                return legacy()
        return self._experiment(config, endpoint, legacy=legacy, new=new, clean=clean, call=call)

    def _experiment(
        self,
        config: Config,
        endpoint: Endpoint,
        *,
        legacy: Callable[[], T],
        new: Callable[[Endpoint], T],
        clean: Callable[[T], object],
        call: str,
    ) -> T:
        settings = endpoint.settings
        experiment: Experiment[T] = Experiment(
            f"seam:{self.name}",
            clean=clean,
            publish=[publisher_for(config, seam=self.name, call=call)],
            # the candidate's own HTTP timeout, plus a margin to connect and translate
            candidate_timeout=settings.timeout + settings.connect_timeout,
            context={"seam": self.name, "service": endpoint.name},
        )
        experiment.control(legacy)
        experiment.candidate(lambda: new(endpoint))
        return experiment.run()


def seam(name: str) -> Seam:
    """The seam ``name`` (a key of routes.yaml's ``seams:``)."""
    return Seam(name)
