"""Key lists as bound parameters, per dialect (``member_of``, ``parts``).

PostgreSQL: ONE array parameter, ``column = ANY(CAST(:k AS text[]))``, for a whole batch. A
list of 500 placeholders made every statement text long and different in length: psycopg
re-parses such a text on every execution (it caches short ones only), SQLAlchemy's ``text()``
builds 500 bind parameters, and psycopg's automatic prepare then gets PostgreSQL to cache a
generic plan, chosen while the ledger was still nearly empty, that filters every ledger row of
the capability instead of looking the keys up (docs/benchmarks.md: 0.5 s a batch).
SQLite has no arrays: ``IN (:k0, :k1, ...)`` in chunks far below its variable limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Literal, TypeVar

CHUNK = 500
_T = TypeVar("_T")
SqlArray = Literal["text", "bigint"]


def chunks(values: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def in_list(prefix: str, values: Sequence[object]) -> tuple[str, dict[str, object]]:
    """``(":k0, :k1", {"k0": .., "k1": ..})`` for ``IN (...)``; ``values`` must not be empty."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))


def parts(dialect: str, values: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    """``values`` in the pieces one statement takes: all of them on PostgreSQL (one array
    parameter), ``size`` at a time on SQLite; nothing when ``values`` is empty."""
    if dialect == "postgresql":
        if values:
            yield values
        return
    yield from chunks(values, size)


def member_of(
    dialect: str, column: str, name: str, values: Sequence[object], sql_type: SqlArray = "text"
) -> tuple[str, dict[str, object]]:
    """``column`` is one of ``values``, as SQL and its parameters (``values`` not empty)."""
    if dialect == "postgresql":
        return f"{column} = ANY(CAST(:{name} AS {sql_type}[]))", {name: list(values)}
    names, params = in_list(name, values)
    return f"{column} IN ({names})", params


def as_int(value: object) -> int:
    """A numeric column's value: drivers hand back int, or Decimal for PostgreSQL's sums."""
    if isinstance(value, int | float | str | Decimal):
        return int(value)
    raise TypeError(f"expected a number from the database, got {value!r}")


def as_float(value: object) -> float:
    if isinstance(value, int | float | str | Decimal):
        return float(value)
    raise TypeError(f"expected a number from the database, got {value!r}")
