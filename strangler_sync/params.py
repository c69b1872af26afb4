"""Key lists as bound parameters: ``IN (:k0, :k1, ...)`` built for ``SqlTx``'s named
placeholders, in chunks that stay far below SQLite's variable limit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TypeVar

CHUNK = 500
_T = TypeVar("_T")


def chunks(values: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def in_list(prefix: str, values: Sequence[object]) -> tuple[str, dict[str, object]]:
    """``(":k0, :k1", {"k0": .., "k1": ..})`` for ``IN (...)``; ``values`` must not be empty."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))


def as_int(value: object) -> int:
    """A numeric column's value: drivers hand back int, or Decimal for PostgreSQL's sums."""
    if isinstance(value, int | float | str | Decimal):
        return int(value)
    raise TypeError(f"expected a number from the database, got {value!r}")


def as_float(value: object) -> float:
    if isinstance(value, int | float | str | Decimal):
        return float(value)
    raise TypeError(f"expected a number from the database, got {value!r}")
