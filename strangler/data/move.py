"""The engine of ``strangler data copy|verify``: loops over the ports of ``acl.data``.

No database, no terminal: a source, a translator and a target come in, a summary goes out,
so the whole logic is tested with fakes. ``strangler.cli.data`` loads the plugins and prints.

Copy reads a batch after the checkpoint's key, translates each row, upserts the good ones in
one transaction, and only then saves the checkpoint (atomically): a copy killed at any moment
redoes at most one batch, and the idempotent upsert makes that harmless.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from acl.data import (
    DataMoveError,
    Key,
    Row,
    RowSource,
    RowTarget,
    RowTranslator,
    SourceRow,
    checksum,
    differing_fields,
)
from acl.errors import TranslationError

Stage = Literal["source", "translate", "target"]
CHECKPOINT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Skipped:
    """A row that was not moved, and why: ``stage`` is where it was refused."""

    key: Key
    stage: Stage
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plugins:
    """The specs a checkpoint was written for: resuming with other plugins would mix data."""

    source: str
    translate: str
    target: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a copy stands; saved after every committed batch."""

    capability: str
    plugins: Plugins
    after: Key | None = None  # the last key of the last committed batch
    batches: int = 0
    read: int = 0
    written: int = 0
    unchanged: int = 0
    skipped: tuple[Skipped, ...] = ()
    complete: bool = False
    started_at: str = field(default_factory=lambda: _now())
    updated_at: str = field(default_factory=lambda: _now())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = CHECKPOINT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: object) -> Checkpoint:
        """A checkpoint as saved; ValueError names what is wrong with anything else."""
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"not a version {CHECKPOINT_VERSION} checkpoint")
        try:
            plugins = Plugins(**data["plugins"])
            skipped = tuple(Skipped(**item) for item in data["skipped"])
            counters = {name: data[name] for name in ("batches", "read", "written", "unchanged")}
            after, complete = data["after"], data["complete"]
            checkpoint = cls(
                capability=data["capability"],
                plugins=plugins,
                after=after,
                skipped=skipped,
                complete=complete,
                started_at=data["started_at"],
                updated_at=data["updated_at"],
                **counters,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed checkpoint: {exc}") from None
        if not (after is None or isinstance(after, str)) or not isinstance(complete, bool):
            raise ValueError("malformed checkpoint: 'after' or 'complete' has the wrong type")
        if not all(isinstance(v, int) and v >= 0 for v in counters.values()):
            raise ValueError("malformed checkpoint: counters must be non-negative integers")
        return checkpoint


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def load_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint at ``path``, None if there is none; ValueError if it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror}") from None
    try:
        return Checkpoint.from_dict(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write whole or not at all: a temporary file in the same directory, fsynced, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(checkpoint.to_dict(), stream, indent=2)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def starting_point(
    previous: Checkpoint | None, *, capability: str, plugins: Plugins, restart: bool
) -> tuple[Checkpoint, bool]:
    """The checkpoint to continue from, and whether it resumes an unfinished copy.

    A finished copy is not resumed: a new run is a new pass that picks up what changed.
    """
    if previous is None or previous.complete or restart:
        return Checkpoint(capability, plugins), False
    if previous.plugins != plugins:
        raise DataMoveError(
            f"the unfinished copy in the checkpoint used other plugins ({previous.plugins}); "
            "run with --restart to start over"
        )
    return previous, True


# -- copy ----------------------------------------------------------------------------------


def _in_order(rows: Sequence[Key], after: Key | None, side: str) -> None:
    last = after
    for key in rows:
        if last is not None and not key > last:
            raise DataMoveError(
                f"the {side} returned key {key!r} after {last!r}: keys must come in ascending "
                'code-point order (SQL: ORDER BY the key, COLLATE "C" on PostgreSQL)'
            )
        last = key


def translate_row(
    translate: RowTranslator, row: SourceRow
) -> tuple[Row, None] | tuple[None, Skipped]:
    """The service row, or why there is none."""
    if row.values is None:
        return None, Skipped(row.key, "source", "(row)", row.problem or "unreadable")
    try:
        translated = translate(row.values)
    except TranslationError as exc:
        # str(exc) is "field: reason (got value)": keep the value, it is what to fix
        return None, Skipped(
            row.key, "translate", exc.field, str(exc).removeprefix(f"{exc.field}: ")
        )
    checksum(translated)  # a row that is not plain JSON is a translator bug: stop here
    return translated, None


def copy_rows(
    source: RowSource,
    translate: RowTranslator,
    target: RowTarget,
    *,
    start: Checkpoint,
    batch_size: int,
    save: Callable[[Checkpoint], None],
    max_batches: int | None = None,
    on_batch: Callable[[int], None] = lambda _rows: None,
) -> Checkpoint:
    """Copy from ``start.after`` to the end (or for ``max_batches`` batches); the returned
    checkpoint has ``complete`` set when the source ran out of rows."""
    checkpoint = start
    done = 0
    target.prepare()
    while max_batches is None or done < max_batches:
        rows = source.read(after=checkpoint.after, limit=batch_size)
        if not rows:
            checkpoint = replace(checkpoint, complete=True, updated_at=_now())
            save(checkpoint)
            break
        _in_order([row.key for row in rows], checkpoint.after, "source")
        good: list[tuple[Key, Row]] = []
        skipped: list[Skipped] = []
        for row in rows:
            translated, refused = translate_row(translate, row)
            if refused is not None:
                skipped.append(refused)
            elif translated is not None:
                good.append((row.key, translated))
        outcome = target.upsert(good)
        skipped += [Skipped(r.key, "target", r.field, r.reason) for r in outcome.rejected]
        checkpoint = replace(
            checkpoint,
            after=rows[-1].key,
            batches=checkpoint.batches + 1,
            read=checkpoint.read + len(rows),
            written=checkpoint.written + outcome.written,
            unchanged=checkpoint.unchanged + outcome.unchanged,
            skipped=checkpoint.skipped + tuple(sorted(skipped, key=lambda s: s.key)),
            updated_at=_now(),
        )
        save(checkpoint)  # after the commit: a crash in between redoes this batch, no harm
        done += 1
        on_batch(len(rows))
    return checkpoint


# -- verify --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Difference:
    key: Key
    fields: tuple[str, ...]


@dataclass(slots=True)
class Verification:
    """Both sides walked in key order; each list holds up to ``examples`` keys."""

    legacy_rows: int = 0
    service_rows: int = 0
    matched: int = 0
    missing: int = 0  # translatable legacy rows the service does not have
    extra: int = 0  # service rows with no legacy row
    different: int = 0
    untranslatable: int = 0  # legacy rows that cannot be in the service as they are
    missing_keys: list[Key] = field(default_factory=list)
    extra_keys: list[Key] = field(default_factory=list)
    different_rows: list[Difference] = field(default_factory=list)
    untranslatable_rows: list[Skipped] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.different or self.untranslatable)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["equal"] = self.equal
        return data


_T = TypeVar("_T")


def _walk(
    read: Callable[[Key | None, int], Sequence[_T]],
    key: Callable[[_T], Key],
    *,
    batch_size: int,
    side: str,
) -> Iterator[_T]:
    """Every row of one side, page by page, checking the order the merge relies on."""
    after: Key | None = None
    while True:
        page = read(after, batch_size)
        if not page:
            return
        keys = [key(item) for item in page]
        _in_order(keys, after, side)
        yield from page
        after = keys[-1]


def verify_rows(
    source: RowSource,
    translate: RowTranslator,
    target: RowTarget,
    *,
    batch_size: int,
    examples: int = 10,
    on_legacy_row: Callable[[], None] = lambda: None,
) -> Verification:
    """Compare the translated legacy rows with the service's, row by row, by checksum: a
    merge of two key-ordered walks, so memory stays one batch per side."""
    result = Verification()
    legacy = _walk(
        lambda after, n: source.read(after=after, limit=n),
        lambda row: row.key,
        batch_size=batch_size,
        side="source",
    )
    service = _walk(
        lambda after, n: target.read(after=after, limit=n),
        lambda pair: pair[0],
        batch_size=batch_size,
        side="target",
    )

    def note(examples_so_far: list[_T], item: _T) -> None:
        if len(examples_so_far) < examples:
            examples_so_far.append(item)

    left = next(legacy, None)
    right = next(service, None)
    while left is not None or right is not None:
        if left is None or (right is not None and right[0] < left.key):
            assert right is not None
            result.service_rows += 1
            result.extra += 1
            note(result.extra_keys, right[0])
            right = next(service, None)
            continue
        result.legacy_rows += 1
        on_legacy_row()
        stored: Row | None = None
        if right is not None and right[0] == left.key:
            stored = right[1]
            result.service_rows += 1
            right = next(service, None)
        translated, refused = translate_row(translate, left)
        if refused is not None:
            result.untranslatable += 1
            note(result.untranslatable_rows, refused)
        elif stored is None:
            result.missing += 1
            note(result.missing_keys, left.key)
        elif translated is not None and checksum(translated) == checksum(stored):
            result.matched += 1
        else:
            result.different += 1
            note(
                result.different_rows,
                Difference(left.key, tuple(differing_fields(translated, stored))),
            )
        left = next(legacy, None)
    return result
