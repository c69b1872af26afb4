"""Moving a capability's rows into its service's database: the ports and what they share.

``strangler data copy|verify CAP`` loads three plugins that routes.yaml names under
``capabilities.CAP.data`` (``module:attr``, loaded with importlib when the verb runs)::

    source     RowSource      the monolith's rows, in key order, from a key onward
    translate  RowTranslator  legacy row -> service row; TranslationError on bad input
    target     RowTarget      upserts service rows idempotently; reads them back in key order

``strangler data sync CAP`` follows a source's captured changes with a ``SyncSource`` (the
current rows of given keys) and a ``SyncTarget`` (versioned upserts and deletes, admitted by a
``Ledger`` in the target's own transaction); see docs/data.md.

A key names the same entity on both sides (the sku of a product), and both sides order keys
by code point, as Python compares strings (SQLite's default; PostgreSQL needs ``COLLATE "C"``):
copy resumes after the last key of a committed batch, and verify walks both sides in step.

A row is a JSON object (str keys; str, int, bool, None, lists and objects as values). Its
checksum is the SHA-256 of its canonical form (keys sorted, no spaces, UTF-8), computed here
and only here, so a source and a target can never disagree on what "the same row" means.

Errors (besides ``acl.errors.TranslationError``, which a translator raises for one row)::

    DataMoveError                       a source or target that cannot do its job at all
     └── PluginNotFound (LookupError)   a ``module:attr`` that names no usable plugin
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeVar, runtime_checkable

from acl.errors import TranslationError

Key = str
Row = Mapping[str, object]
RowTranslator = Callable[[Row], Row]
"""Legacy row -> service row: pure, raises ``TranslationError`` naming the bad field."""


class DataMoveError(Exception):
    """A source or target that cannot work (database missing, schema absent...): the message
    says what to do about it."""


class PluginNotFound(DataMoveError, LookupError):
    def __init__(self, spec: str, *, reason: str) -> None:
        super().__init__(f"cannot load {spec!r}: {reason}")
        self.spec = spec
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One legacy row. ``values`` is None when the source could not even read it (a date the
    database cannot parse...); ``problem`` then says why, and the row is reported, not lost."""

    key: Key
    values: Row | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A translated row the target refused (its own model's rules): key, field, reason."""

    key: Key
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Upserted:
    written: int  # inserted or changed
    unchanged: int  # already there, equal: nothing written
    rejected: tuple[Rejected, ...] = ()


@runtime_checkable
class RowSource(Protocol):
    def count(self) -> int:
        """How many rows the source holds now (for the progress bar and the verify counts)."""
        ...

    def read(self, *, after: Key | None, limit: int) -> Sequence[SourceRow]:
        """Up to ``limit`` rows with keys greater than ``after`` (all when None), in key
        order; an empty sequence at the end. Keyset pagination: never OFFSET."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class RowTarget(Protocol):
    def prepare(self) -> None:
        """Make the target writable (create the database, run its migrations); copy calls it
        before the first write, verify never does."""
        ...

    def count(self) -> int: ...

    def upsert(self, rows: Sequence[tuple[Key, Row]]) -> Upserted:
        """Insert or replace ``rows`` in one transaction, committed before it returns.
        Idempotent: a row equal to the stored one is counted unchanged and not written."""
        ...

    def read(self, *, after: Key | None, limit: int) -> Sequence[tuple[Key, Row]]:
        """The stored rows, in the translator's shape, in key order, after ``after``."""
        ...

    def close(self) -> None: ...


# -- keeping rows in step while both sides run (`strangler data sync CAP`) ---------------


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """Where a key's state stands in its source's outbox: (capture epoch, outbox seq).

    Per key, seq order is commit order (the capture trigger runs under the row's lock), so a
    target that admits only strictly newer versions never takes an earlier state after a later
    one. A new epoch means the outbox was re-created: the target admits it and the operator
    runs ``data copy`` once."""

    epoch: str
    seq: int


@dataclass(frozen=True, slots=True)
class Change:
    """One key's state to make true on the target: ``row`` None means the key is gone."""

    key: Key
    row: Row | None
    version: Version


@dataclass(frozen=True, slots=True)
class Conflict:
    """A key changed on both sides within the lag window, decided for the side that owned the
    capability then: ``winner`` is "source" (the target's change is overwritten) or "target"
    (this change is dropped). ``target_seq`` names the target's own change that raced it."""

    key: Key
    winner: Literal["source", "target"]
    target_seq: int


@dataclass(frozen=True, slots=True)
class Admission:
    """What the ledger let through inside the target's transaction."""

    write: tuple[Change, ...]  # do these, in this transaction, and nothing else
    stale: tuple[Key, ...] = ()  # the target already holds this version or a newer one
    conflicts: tuple[Conflict, ...] = ()


@dataclass(frozen=True, slots=True)
class Applied:
    written: int = 0  # upserted rows that changed
    unchanged: int = 0  # upserted rows already equal
    deleted: int = 0
    rejected: tuple[Rejected, ...] = ()  # the relay parks these (stage "target")
    admission: Admission | None = None


class SqlTx(Protocol):
    """The target's open transaction, as the ledger sees it. SQL uses ``:name`` placeholders;
    rows come back as tuples."""

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]: ...

    def execute(
        self, sql: str, params: Mapping[str, object] | None = None
    ) -> list[tuple[object, ...]]: ...


class Ledger(Protocol):
    def admit(self, tx: SqlTx, changes: Sequence[Change]) -> Admission:
        """The first statement of an apply transaction: sets the echo guard, compares and sets
        each key's version, decides conflicts. Only ``Admission.write`` may then be written."""
        ...


@runtime_checkable
class SyncSource(Protocol):
    """A ``RowSource`` the relay can follow: it also reads the current rows of given keys."""

    def read_keys(self, keys: Sequence[Key]) -> Sequence[SourceRow]:
        """The current rows of ``keys``, at most one each, in any order; a key without a row
        is gone (deleted). A row that cannot be read comes back as ``SourceRow(key, None,
        problem=...)``, as ``read`` does; a source that cannot read at all raises
        ``DataMoveError``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class SyncTarget(Protocol):
    """A ``RowTarget`` the relay can apply changes to (upserts and deletes, versioned)."""

    def apply(self, changes: Sequence[Change], *, ledger: Ledger) -> Applied:
        """In ONE transaction: ``ledger.admit(tx, changes)`` first, then upsert every admitted
        change with a row and delete every admitted change without one; commit, then return.
        Equal rows count as unchanged. A change the target refuses comes back in
        ``rejected``; ``DataMoveError`` means nothing was committed."""
        ...

    def close(self) -> None: ...


# -- checksums -----------------------------------------------------------------------------


def canonical(row: Row) -> bytes:
    """The bytes a row's checksum is taken over: JSON, keys sorted, no spaces, UTF-8."""
    try:
        text = json.dumps(
            row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise DataMoveError(f"a row is not plain JSON ({exc}): {row!r:.200}") from None
    return text.encode()


def checksum(row: Row) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def differing_fields(left: object, right: object, *, at: str = "") -> list[str]:
    """Dotted paths where two rows differ (``price.amount``), for examples in a report."""
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        paths: list[str] = []
        for name in sorted(set(left) | set(right)):
            where = f"{at}.{name}" if at else str(name)
            if name not in left or name not in right:
                paths.append(where)
            else:
                paths += differing_fields(left[name], right[name], at=where)
        return paths
    # bool is an int: True and 1 differ in JSON
    if type(left) is not type(right) or left != right:
        return [at or "(row)"]
    return []


# -- reading database rows (typed values, not JSON) ----------------------------------------


def _value(row: Row, name: str) -> object:
    if name not in row:
        raise TranslationError(field=name, value=None, reason="missing")
    return row[name]


def row_str(row: Row, name: str) -> str:
    value = _value(row, name)
    if not isinstance(value, str):
        raise TranslationError(field=name, value=value, reason="not a string")
    return value


def row_int(row: Row, name: str, *, minimum: int | None = None) -> int:
    value = _value(row, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TranslationError(field=name, value=value, reason="not an integer")
    if minimum is not None and value < minimum:
        raise TranslationError(field=name, value=value, reason=f"below {minimum}")
    return value


def row_bool(row: Row, name: str) -> bool:
    value = _value(row, name)
    # SQLite hands booleans back as 0/1 when read without a model
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TranslationError(field=name, value=value, reason="not a boolean")


def row_datetime(row: Row, name: str) -> datetime:
    """An aware datetime; a naive one has no instant, so it cannot be translated."""
    value = _value(row, name)
    if not isinstance(value, datetime):
        raise TranslationError(field=name, value=value, reason="not a date and time")
    if value.utcoffset() is None:
        raise TranslationError(field=name, value=value, reason="no time zone")
    return value


# -- loading the plugins routes.yaml names ------------------------------------------------

PluginKind = Literal["source", "target"]
_T = TypeVar("_T")


def load_attribute(spec: str) -> object:
    """``pkg.module:name``: the attribute itself, or PluginNotFound saying why not."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise PluginNotFound(spec, reason="not 'pkg.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginNotFound(spec, reason=f"cannot import {module_name}: {exc}") from exc
    try:
        obj: object = getattr(module, attribute)
    except AttributeError:
        raise PluginNotFound(spec, reason=f"{module_name} has no {attribute}") from None
    return obj


def _plugin(spec: str, protocol: type[_T], methods: str) -> _T:
    obj = load_attribute(spec)
    if isinstance(obj, protocol):
        return obj
    if not callable(obj):
        raise PluginNotFound(spec, reason=f"it has no {methods} methods")
    name = spec.partition(":")[2]
    try:
        # a class or a factory: opening a database happens here, so its errors carry through
        made: object = obj()
    except TypeError as exc:
        raise PluginNotFound(spec, reason=f"cannot call {name}(): {exc}") from exc
    if not isinstance(made, protocol):
        raise PluginNotFound(spec, reason=f"{name}() has no {methods} methods")
    return made


def load_source(spec: str) -> RowSource:
    """``pkg.module:name``: a RowSource, or a class or factory making one without arguments."""
    return _plugin(spec, RowSource, "count/read/close")  # type: ignore[type-abstract]


def load_target(spec: str) -> RowTarget:
    """``pkg.module:name``: a RowTarget, or a class or factory making one without arguments."""
    return _plugin(spec, RowTarget, "prepare/count/upsert/read/close")  # type: ignore[type-abstract]


def load_sync_source(spec: str) -> SyncSource:
    """A source the relay can follow: ``read_keys`` besides what ``load_source`` needs."""
    return _plugin(spec, SyncSource, "read_keys/close")  # type: ignore[type-abstract]


def load_sync_target(spec: str) -> SyncTarget:
    """A target the relay can apply to: ``apply`` besides what ``load_target`` needs."""
    return _plugin(spec, SyncTarget, "apply/close")  # type: ignore[type-abstract]


def load_row_translator(spec: str) -> RowTranslator:
    """``pkg.module:function``: the function itself (legacy row -> service row)."""
    obj = load_attribute(spec)
    if not callable(obj) or isinstance(obj, type):
        raise PluginNotFound(spec, reason="not a function of one row")
    translate: RowTranslator = obj
    return translate
