"""The per-key version ledger, kept in the TARGET database and updated in the target's own
apply transaction: a later state is never overwritten by an earlier one, whatever the number
of relays, duplicate deliveries or crashes (docs/data.md, "why order holds")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from acl.data import Admission, Change, Key, SqlTx, Version


class SqlLedger:
    """``acl.data.Ledger`` over ``strangler_sync_ledger``.

    ``owner`` is who wins a conflict ("source": the side the change comes from, "target": the
    side it goes to). ``peer`` holds, per key, the target's own changes the source state already
    includes (the source db's ledger for the other direction); ``target_aggregate`` names the
    target's outbox rows of this data, when the other direction runs (None: no conflicts)."""

    def __init__(
        self,
        capability: str,
        direction: Literal["forward", "back"],
        *,
        owner: Literal["source", "target"] = "source",
        peer: Mapping[Key, Version] | None = None,
        target_aggregate: str | None = None,
        echo_capability: str | None = None,
    ) -> None:
        self.capability = capability
        self.direction = direction
        self.owner = owner
        self.peer = dict(peer or {})
        self.target_aggregate = target_aggregate
        self.echo_capability = echo_capability

    def admit(self, tx: SqlTx, changes: Sequence[Change]) -> Admission:
        raise NotImplementedError
