"""The demo walk's judgement, without processes: a check that does not hold stops the walk
naming its step; a client's answer is judged against the monolith's by the capability's
compare rules."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from facade.config import Compare
from facade.config.evidence import compare_rules
from strangler.demo.stack import DemoRoutes, Stack
from strangler.demo.traffic import Answer, Req, difference_text, keyed, same_as_monolith
from strangler.demo.walk import Walk, WalkFailed, poll, summary

JSON = (("Content-Type", "application/json"),)


def _walk(tmp_path: Path) -> tuple[Walk, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=120)
    routes = DemoRoutes(tmp_path / "routes.yaml", ())
    return Walk(console, routes, Stack(tmp_path, {}), 8080, 8000, "cap", "svc"), out


def _answer(body: object, status: int = 200) -> Answer:
    return Answer(status, JSON, json.dumps(body).encode())


def test_a_check_that_does_not_hold_stops_the_walk_naming_its_step(tmp_path: Path) -> None:
    walk, out = _walk(tmp_path)
    walk.step("3. shadow", "compared in the background")
    walk.expect("the store holds evidence", True, "200 recorded")

    with pytest.raises(WalkFailed, match=r"^3\. shadow: no mismatch: 4 mismatches$"):
        walk.expect("no mismatch", False, "4 mismatches")

    summary(walk)
    text = out.getvalue()
    assert "✔ the store holds evidence  (200 recorded)" in text
    assert "✘ no mismatch  (4 mismatches)" in text
    assert "NO: no mismatch" in text
    assert [c.held for c in walk.checks] == [True, False]


def test_the_clients_answer_equals_the_monoliths_except_for_ignored_paths() -> None:
    rules = compare_rules(Compare(ignore=["$.generated_at"]))
    monolith = _answer({"items": [{"sku": "A", "price": "1.50"}], "generated_at": "t1"})

    same = _answer({"items": [{"sku": "A", "price": "1.50"}], "generated_at": "t2"})
    assert same_as_monolith(same, monolith, rules).equal

    rounded = _answer({"items": [{"sku": "A", "price": "2.00"}], "generated_at": "t2"})
    comparison = same_as_monolith(rounded, monolith, rules)
    assert not comparison.equal
    assert difference_text(comparison) == "$.items[0].price: '1.50' != '2.00'"

    assert not same_as_monolith(_answer({}, 404), _answer({}), rules).equal


def test_keyed_requests_come_from_a_different_client_each() -> None:
    reqs = keyed(
        [Req("GET", "/a"), Req("GET", "/b"), Req("GET", "/c")], "X-Customer-Id", ["1", "2"]
    )

    assert [(r.path, r.headers) for r in reqs] == [
        ("/a", (("X-Customer-Id", "1"),)),
        ("/b", (("X-Customer-Id", "2"),)),
        ("/c", (("X-Customer-Id", "1"),)),
    ]


def test_poll_reads_until_the_answer_will_do_and_gives_the_last_one_on_timeout() -> None:
    answers = iter(range(10))
    assert poll(lambda: next(answers), lambda n: n >= 3, timeout=5, every=0.001) == 3
    assert next(answers) == 4  # no read after the one that did
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        return len(reads)

    assert poll(read, lambda n: False, timeout=0.05, every=0.01) == len(reads)
    assert len(reads) >= 2
