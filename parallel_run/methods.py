"""HTTP method semantics (RFC 9110 §9.2): the one definition of the safe and idempotent sets.

Shared by the facade (retry, fallback, shadow, connection reuse), the twin calls that learn
the monolith's noise, and replay. It lives here, in the lowest layer, because ``parallel_run``
may import nothing of the facade, and everything above may import ``parallel_run``.
"""

from __future__ import annotations

from typing import Final

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""RFC 9110 §9.2.1: read-only by contract. Called twice (twins), replayed by default, always
allowed to fall back to the monolith."""

IDEMPOTENT_METHODS: Final = SAFE_METHODS | frozenset({"PUT", "DELETE"})
"""RFC 9110 §9.2.2: a second identical request has the effect of one, so a lost answer may
be retried (and a request on a reused connection that died may be resent)."""
