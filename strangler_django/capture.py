"""Change capture for a Django monolith: specs from models, and the SQL run on Django's connection.

``strangler data sync CAP`` follows the changes that database triggers capture in the
monolith's own database, so the ORM, ``QuerySet.update()``, ``bulk_create``, the admin and raw
SQL are all seen (``strangler_sync``; installed by ``strangler data capture CAP``). What a
Django project adds here:

- ``capture_spec(Product, key="sku", fields=[...], capability="product-catalog")``: the spec
  from the model's ``_meta`` (its table, and each field's column, ``db_column`` included), for
  a routes.yaml ``data.sync.capture`` plugin, which stays right when a column is renamed;
- ``STRANGLER_CAPTURE`` in the settings, the project's captured capabilities::

      STRANGLER_CAPTURE = {
          "product-catalog": ("catalog.Product", "sku", ["sku", "name", "unit_price_cents"]),
      }

  which ``manage.py strangler_capture install|remove|status`` acts on, and which ``migrate``
  re-installs where capture was installed (``apps.py``: on SQLite, a migration that rebuilds
  a table drops its triggers without a word);
- ``DjangoTx``: ``acl.data.SqlTx`` over a Django connection, inside the caller's
  ``transaction.atomic``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from strangler_sync import CapturedTable, CaptureError, CaptureSpec

CAPTURE_SETTING = "STRANGLER_CAPTURE"

# a ``:name`` placeholder as SQLAlchemy's text() reads one (not ``::type``, not ``\\:``)
_PLACEHOLDER = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


def capture_spec(
    model: type[models.Model],
    *,
    key: str,
    fields: Iterable[str],
    capability: str,
    payload: Literal["row", "key"] = "row",
) -> CaptureSpec:
    """The capture of ``model``'s table: ``key`` and ``fields`` are field names (the key is
    captured even when ``fields`` leaves it out); ``CaptureError`` names an unknown field."""
    meta = model._meta
    names = [key, *(name for name in fields if name != key)]
    columns = tuple(_column(model, name) for name in names)
    table = CapturedTable(name=meta.db_table, key=columns[0], columns=columns)
    return CaptureSpec(capability=capability, tables=(table,), payload=payload)


def _column(model: type[models.Model], name: str) -> str:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        raise CaptureError(f"{model._meta.label} has no field {name!r} to capture") from None
    column = getattr(field, "column", None)
    if not field.concrete or not isinstance(column, str):
        raise CaptureError(f"{model._meta.label}.{name} is not a column of its table")
    return column


@dataclass(frozen=True, slots=True)
class Configured:
    """One entry of ``STRANGLER_CAPTURE``: its spec, and the app whose model it captures (the
    ``post_migrate`` of that app re-installs it)."""

    spec: CaptureSpec
    app_label: str


def configured(capabilities: Iterable[str] = ()) -> dict[str, Configured]:
    """The entries of ``settings.STRANGLER_CAPTURE`` (all, or those of ``capabilities``), by
    capability. ``ImproperlyConfigured`` says which entry is wrong and why."""
    declared: object = getattr(settings, CAPTURE_SETTING, None) or {}
    if not isinstance(declared, Mapping):
        raise ImproperlyConfigured(f"{CAPTURE_SETTING} must be a dict, not {declared!r}")
    wanted = list(capabilities) or list(declared)
    unknown = [name for name in wanted if name not in declared]
    if unknown:
        raise ImproperlyConfigured(
            f"{CAPTURE_SETTING} has no capability {', '.join(unknown)} "
            f"(it has: {', '.join(map(str, declared)) or 'none'})"
        )
    return {name: _configured(name, declared[name]) for name in wanted}


def _configured(capability: str, entry: object) -> Configured:
    where = f"{CAPTURE_SETTING}[{capability!r}]"
    if (
        not isinstance(entry, tuple | list)
        or len(entry) != 3
        or not all(isinstance(part, str) for part in entry[:2])
        or isinstance(entry[2], str)
        or not isinstance(entry[2], Iterable)
    ):
        raise ImproperlyConfigured(
            f"{where} must be (model label, key field, [fields]), not {entry!r}"
        )
    label, key, fields = entry
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise ImproperlyConfigured(f"{where}: no model {label!r} ({exc})") from None
    try:
        spec = capture_spec(model, key=key, fields=fields, capability=capability)
    except CaptureError as exc:
        raise ImproperlyConfigured(f"{where}: {exc}") from None
    return Configured(spec, model._meta.app_label)


class DjangoTx:
    """``acl.data.SqlTx`` over a Django connection: run inside ``transaction.atomic(using=...)``,
    so what ``strangler_sync`` does commits with the caller's transaction."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        vendor = connection.vendor
        if vendor not in ("sqlite", "postgresql"):
            raise CaptureError(f"data sync supports SQLite and PostgreSQL, not {vendor}")
        self._connection = connection
        self._dialect: Literal["sqlite", "postgresql"] = (
            "sqlite" if vendor == "sqlite" else "postgresql"
        )

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        return self._dialect

    def execute(
        self, sql: str, params: Mapping[str, object] | None = None
    ) -> list[tuple[object, ...]]:
        with self._connection.cursor() as cursor:
            if params:
                # Django's cursors take pyformat: %(name)s, and a literal % doubled
                pyformat = _PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))
                cursor.execute(pyformat, dict(params))  # type: ignore[arg-type]
            else:
                cursor.execute(sql)  # no params: Django passes the SQL as it is
            if cursor.description is None:
                return []
            return [tuple(row) for row in cursor.fetchall()]
