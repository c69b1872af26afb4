"""``post_migrate``: put back the capture triggers a migration dropped.

Django's SQLite schema editor rebuilds a table for most ``ALTER``s (a new table, a copy, a
drop, a rename), and the triggers on the old table go with it, silently: the sync would stop
seeing changes. After ``migrate``, each capability of ``STRANGLER_CAPTURE`` whose capture was
installed in that database and is now missing or drifted is installed again, keeping its
epoch (so the relay's versions stay valid). A database where capture was never installed is
left alone: capture is switched on by the operator (``strangler data capture CAP`` or ``manage.py
strangler_capture install``), never by a migration.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from strangler_django.capture import DjangoTx, configured
from strangler_sync import CaptureError, inspect, install
from strangler_sync.schema import CAPTURE


def reinstall_capture(
    sender: AppConfig, *, using: str = DEFAULT_DB_ALIAS, verbosity: int = 1, **_: Any
) -> None:
    """The ``post_migrate`` receiver. It runs once per app; each capability is handled when
    its model's app comes by, so once per ``migrate``."""
    mine = {cap: c.spec for cap, c in configured().items() if c.app_label == sender.label}
    connection = connections[using]
    if not mine or CAPTURE not in connection.introspection.table_names():
        return
    with transaction.atomic(using=using):
        tx = DjangoTx(connection)
        for capability, spec in mine.items():
            state = inspect(tx, spec)
            # drifted with an epoch: installed from an older spec or generator, or a captured
            # column renamed (the triggers then capture it as null)
            if state.state != "missing" and not (state.state == "drifted" and state.epoch):
                continue
            try:
                with transaction.atomic(using=using):
                    install(tx, spec)
            except CaptureError as exc:  # the spec names a column the migration took away
                print(f"  strangler: capture of {capability} NOT re-installed: {exc}")
                continue
            if verbosity >= 1:
                print(f"  strangler: capture of {capability} re-installed ({state.state})")
