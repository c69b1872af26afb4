"""What a shadowed request hands over, what is shadowed at all, and the bounds of each stage."""

from __future__ import annotations

from dataclasses import dataclass

from multidict import CIMultiDict

from acl.http import Translator
from facade.config import Capability, Config
from facade.config.normalize import Target
from facade.upstream import Upstream
from parallel_run.compare import HttpAnswer
from parallel_run.methods import SAFE_METHODS

SHADOW_HEADER = "X-Strangler-Shadow"  # lets the service tell shadow traffic from real traffic
MAX_IN_FLIGHT = 256
COMPARE_QUEUE = 1024
# bodies (both sides, twins too) waiting for the comparison thread: a candidate answering
# 1 MiB to every request would otherwise hold up to COMPARE_QUEUE of them; past it, the job is
# dropped and counted (compare_queue_full), as when the queue is full
COMPARE_QUEUE_BYTES = 128 * 1024**2
# answers larger than this are not shadowed (the legacy copy is kept in memory meanwhile); a
# candidate's answer is read to one byte more and no further: that byte proves it differs from
# every shadowed legacy answer, and the rest of a 5 MB answer is never read (nor stored: the
# store keeps store.body_limit of it)
MAX_SHADOW_BODY = 1 << 20
READ_LIMIT = MAX_SHADOW_BODY + 1
CLOSE_WAIT = 5.0  # seconds, for each of: candidate calls, comparisons, the store's flush
TWIN_TARGET = 200  # twin calls per route before sampling slows down
# Safe methods but TRACE (unless ``shadow.unsafe_methods: send``). A TRACE answer's body is the
# request as the upstream received it: the client's Cookie and Authorization would land in the
# store inside a body, past the redactor (which rewrites headers and JSON fields, not an echoed
# message), and the two echoes always differ anyway (the candidate's carries the shadow header).
SHADOWED_METHODS = SAFE_METHODS - {"TRACE"}


@dataclass(frozen=True, slots=True)
class ShadowJob:
    """Everything the background call and the comparison need, captured at request time."""

    capability: str
    route: str
    method: str
    target: Target
    headers: CIMultiDict[str]  # the upstream headers the monolith got
    body: bytes | None
    legacy: HttpAnswer
    legacy_ms: float
    candidate: Upstream
    timeout: float
    legacy_client: Upstream
    twin_fraction: float  # 0..1: call the monolith a second time to learn its noise
    learn_noise: bool
    # the configuration the request was served under: its compare rules judge the answers, and
    # while the job holds it, the pools its calls go through stay open (facade.config.derived)
    config: Config
    # with a translator, the candidate is asked in its own terms and its answer turned back
    # into the legacy API's before comparing, so differences read in the legacy vocabulary
    translator: Translator | None = None


@dataclass(frozen=True, slots=True)
class Compared:
    """A finished candidate call (and twin call), waiting for the compare worker."""

    job: ShadowJob
    candidate: HttpAnswer
    candidate_ms: float
    twin: HttpAnswer | None = None

    @property
    def size(self) -> int:
        """The bytes of bodies it holds: what the hand-off bounds."""
        twin = len(self.twin.body) if self.twin is not None else 0
        return len(self.job.legacy.body) + len(self.candidate.body) + twin


def answer_size(answer: HttpAnswer) -> int:
    """The size of the answer the upstream sent: its declared Content-Length when the body was
    read only up to ``READ_LIMIT``, else the body's length."""
    if len(answer.body) >= READ_LIMIT:
        for value in answer.header_values("content-length"):
            if value.strip().isdigit():
                return max(int(value.strip()), len(answer.body))
    return len(answer.body)


def wants_shadow(capability: Capability, method: str, roll: float) -> bool:
    """Shadow this request? ``SHADOWED_METHODS`` only, unless the capability says ``send``."""
    shadow = capability.shadow
    if method not in SHADOWED_METHODS and shadow.unsafe_methods != "send":
        return False
    return roll * 100 < shadow.percent
