"""The data-move engine over fake ports: batches, idempotence, skips by key, checkpoints and
resuming, and verify's merge of both sides."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from acl.data import DataMoveError, Key, Rejected, Row, SourceRow, Upserted
from acl.errors import TranslationError
from strangler.data.move import (
    Checkpoint,
    Plugins,
    Skipped,
    copy_rows,
    load_checkpoint,
    save_checkpoint,
    starting_point,
    verify_rows,
)

PLUGINS = Plugins("src:s", "tr:t", "dst:d")


class FakeSource:
    def __init__(self, rows: Mapping[Key, Row | None]) -> None:
        self.rows = dict(rows)
        self.reads: list[Key | None] = []
        self.shuffled = False

    def count(self) -> int:
        return len(self.rows)

    def read(self, *, after: Key | None, limit: int) -> Sequence[SourceRow]:
        self.reads.append(after)
        keys = sorted(k for k in self.rows if after is None or k > after)[:limit]
        if self.shuffled:
            keys.reverse()
        return [
            SourceRow(k, v) if v is not None else SourceRow(k, None, "month 13")
            for k in keys
            for v in [self.rows[k]]
        ]

    def close(self) -> None:
        pass


class FakeTarget:
    """Refuses names that are too long, as a service's own model would."""

    def __init__(self, rows: Mapping[Key, Row] | None = None) -> None:
        self.rows: dict[Key, Row] = dict(rows or {})
        self.prepared = False
        self.upserts: list[list[Key]] = []

    def prepare(self) -> None:
        self.prepared = True

    def count(self) -> int:
        return len(self.rows)

    def upsert(self, rows: Sequence[tuple[Key, Row]]) -> Upserted:
        self.upserts.append([key for key, _ in rows])
        written = unchanged = 0
        rejected = []
        for key, row in rows:
            if len(str(row["name"])) > 10:
                rejected.append(Rejected(key, "name", "too long"))
            elif self.rows.get(key) == row:
                unchanged += 1
            else:
                self.rows[key] = row
                written += 1
        return Upserted(written, unchanged, tuple(rejected))

    def read(self, *, after: Key | None, limit: int) -> Sequence[tuple[Key, Row]]:
        keys = sorted(k for k in self.rows if after is None or k > after)[:limit]
        return [(k, self.rows[k]) for k in keys]

    def close(self) -> None:
        pass


def translate(row: Row) -> Row:
    price = row["price"]
    if not isinstance(price, int) or price < 0:
        raise TranslationError(field="price", value=price, reason="negative price")
    return {"name": row["name"], "amount": f"{price / 100:.2f}"}


def legacy(count: int) -> dict[Key, Row | None]:
    return {f"K{n:03d}": {"name": f"item {n}", "price": n * 100} for n in range(count)}


def copy(
    source: FakeSource,
    target: FakeTarget,
    *,
    start: Checkpoint | None = None,
    batch_size: int = 4,
    max_batches: int | None = None,
) -> tuple[Checkpoint, list[Checkpoint]]:
    saved: list[Checkpoint] = []
    result = copy_rows(
        source,
        translate,
        target,
        start=start or Checkpoint("cap", PLUGINS),
        batch_size=batch_size,
        save=saved.append,
        max_batches=max_batches,
    )
    return result, saved


# -- copy ----------------------------------------------------------------------------------


def test_copy_moves_every_row_in_batches_and_saves_after_each() -> None:
    source, target = FakeSource(legacy(10)), FakeTarget()
    result, saved = copy(source, target)
    assert target.prepared
    assert target.rows["K003"] == {"name": "item 3", "amount": "3.00"}
    assert len(target.rows) == 10
    assert (result.read, result.written, result.unchanged, result.batches) == (10, 10, 0, 3)
    assert result.complete
    assert result.after == "K009"
    assert [c.after for c in saved] == ["K003", "K007", "K009", "K009"]
    assert source.reads == [None, "K003", "K007", "K009"]  # keyset: each read after the last


def test_a_second_copy_writes_nothing() -> None:
    source, target = FakeSource(legacy(10)), FakeTarget()
    copy(source, target)
    again, _ = copy(source, target)
    assert (again.read, again.written, again.unchanged) == (10, 0, 10)


def test_rows_refused_anywhere_are_reported_by_key_and_the_rest_still_move() -> None:
    rows = legacy(6)
    rows["K001"] = {"name": "bad price", "price": -5}
    rows["K002"] = None  # the source could not read it
    rows["K004"] = {"name": "a name far too long", "price": 1}
    source, target = FakeSource(rows), FakeTarget()
    result, _ = copy(source, target, batch_size=3)
    assert sorted(target.rows) == ["K000", "K003", "K005"]
    assert result.skipped == (
        Skipped("K001", "translate", "price", "negative price (got -5)"),
        Skipped("K002", "source", "(row)", "month 13"),
        Skipped("K004", "target", "name", "too long"),
    )
    assert (result.read, result.written) == (6, 3)


def test_an_interrupted_copy_resumes_after_the_last_committed_batch() -> None:
    source, target = FakeSource(legacy(10)), FakeTarget()
    stopped, _ = copy(source, target, max_batches=2)
    assert not stopped.complete
    assert (stopped.after, stopped.read) == ("K007", 8)
    assert len(target.rows) == 8
    source.reads.clear()
    resumed, _ = copy(source, target, start=stopped)
    assert source.reads == ["K007", "K009"]
    assert resumed.complete
    assert (resumed.read, resumed.written, resumed.batches) == (10, 10, 3)


def test_a_source_out_of_key_order_stops_the_copy() -> None:
    source = FakeSource(legacy(5))
    source.shuffled = True
    with pytest.raises(DataMoveError, match="ascending"):
        copy(source, FakeTarget())


def test_a_translator_that_returns_no_json_is_a_bug_that_stops_the_copy() -> None:
    def broken(row: Row) -> Row:
        return {"when": object()}

    with pytest.raises(DataMoveError, match="not plain JSON"):
        copy_rows(
            FakeSource(legacy(2)),
            broken,
            FakeTarget(),
            start=Checkpoint("cap", PLUGINS),
            batch_size=5,
            save=lambda _c: None,
        )


# -- checkpoints ---------------------------------------------------------------------------


def test_a_checkpoint_survives_a_round_trip_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "data" / "cap.json"
    checkpoint = Checkpoint(
        "cap",
        PLUGINS,
        after="K007",
        batches=2,
        read=8,
        written=7,
        unchanged=1,
        skipped=(Skipped("K001", "translate", "price", "negative"),),
    )
    save_checkpoint(path, checkpoint)
    assert load_checkpoint(path) == checkpoint
    assert [p.name for p in path.parent.iterdir()] == ["cap.json"]  # no temporary left behind


def test_no_checkpoint_file_is_none(tmp_path: Path) -> None:
    assert load_checkpoint(tmp_path / "none.json") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "not a version 1 checkpoint"),
        ('{"version": 1}', "malformed checkpoint"),
    ],
)
def test_a_damaged_checkpoint_is_refused_with_the_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "cap.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)


def test_a_checkpoint_with_negative_counters_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cap.json"
    save_checkpoint(path, Checkpoint("cap", PLUGINS))
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"read": -1}))
    with pytest.raises(ValueError, match="non-negative"):
        load_checkpoint(path)


def test_an_unfinished_copy_is_resumed_a_finished_one_starts_a_new_pass() -> None:
    unfinished = Checkpoint("cap", PLUGINS, after="K003", read=4)
    assert starting_point(unfinished, capability="cap", plugins=PLUGINS, restart=False) == (
        unfinished,
        True,
    )
    fresh, resumed = starting_point(
        Checkpoint("cap", PLUGINS, after="K009", complete=True),
        capability="cap",
        plugins=PLUGINS,
        restart=False,
    )
    assert (fresh.after, fresh.read, resumed) == (None, 0, False)
    restarted, resumed = starting_point(unfinished, capability="cap", plugins=PLUGINS, restart=True)
    assert (restarted.after, resumed) == (None, False)


def test_an_unfinished_copy_with_other_plugins_is_not_resumed() -> None:
    unfinished = Checkpoint("cap", Plugins("old:s", "tr:t", "dst:d"), after="K003")
    with pytest.raises(DataMoveError, match="--restart"):
        starting_point(unfinished, capability="cap", plugins=PLUGINS, restart=False)


# -- verify --------------------------------------------------------------------------------


def test_verify_after_a_copy_finds_both_sides_equal() -> None:
    source, target = FakeSource(legacy(9)), FakeTarget()
    copy(source, target)
    result = verify_rows(source, translate, target, batch_size=4)
    assert result.equal
    assert (result.legacy_rows, result.service_rows, result.matched) == (9, 9, 9)


def test_verify_names_missing_extra_different_and_untranslatable_rows() -> None:
    source, target = FakeSource(legacy(8)), FakeTarget()
    copy(source, target)
    del target.rows["K002"]  # missing
    target.rows["K002x"] = {"name": "stray", "amount": "1.00"}  # extra, between two keys
    target.rows["ZZZ"] = {"name": "last", "amount": "1.00"}  # extra, after every legacy key
    target.rows["K005"] = {"name": "item 5", "amount": "9.99"}  # different
    source.rows["K006"] = {"name": "item 6", "price": -1}  # untranslatable, stale copy stored
    result = verify_rows(source, translate, target, batch_size=3)
    assert not result.equal
    assert (result.legacy_rows, result.service_rows) == (8, 9)
    assert (result.missing, result.extra, result.different, result.untranslatable) == (1, 2, 1, 1)
    assert result.matched == 5
    assert result.missing_keys == ["K002"]
    assert result.extra_keys == ["K002x", "ZZZ"]
    assert [(d.key, d.fields) for d in result.different_rows] == [("K005", ("amount",))]
    assert [s.key for s in result.untranslatable_rows] == ["K006"]


def test_verify_keeps_only_so_many_examples_but_counts_all() -> None:
    source = FakeSource(legacy(30))
    result = verify_rows(source, translate, FakeTarget(), batch_size=7, examples=3)
    assert result.missing == 30
    assert result.missing_keys == ["K000", "K001", "K002"]


def test_verify_of_two_empty_sides_is_equal() -> None:
    assert verify_rows(FakeSource({}), translate, FakeTarget(), batch_size=3).equal
