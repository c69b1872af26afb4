"""The pytest plugin as a team uses it, tested with pytester: a toy monolith and service
(tests/support/toy_shop.py) started from a stack file, the real facade in front, a golden
corpus recorded, checked in every mode, and a broken service named down to the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.e2e
TOY = Path(__file__).resolve().parents[1] / "support" / "toy_shop.py"

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:9"}     # the stack fills in the ports
services:
  items: {url: "http://127.0.0.1:9"}
capabilities:
  items:
    match: [{methods: [GET, HEAD], path: "/api/items/{id}"}]
    service: items
    mode: legacy
"""


def stack_file(service_bug: str = "", monolith_bug: str = "") -> str:
    return f"""\
[monolith]
command = ["{{python}}", "toy_shop.py", "{{port}}", "{monolith_bug}"]
ready = "/healthz"

[services.items]
command = ["{{python}}", "toy_shop.py", "{{port}}", "{service_bug}"]
ready = "/healthz"
"""


def requests_only(*targets: str) -> str:
    """A HAR with requests and no answers yet: how a team starts a corpus."""
    entries = [
        {"request": {"method": "GET", "url": f"http://shop{t}", "headers": []}} for t in targets
    ]
    return json.dumps({"log": {"version": "1.2", "entries": entries}})


@pytest.fixture
def team(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copy(TOY, pytester.path / "toy_shop.py")
    pytester.makefile(".yaml", routes=ROUTES)
    (pytester.path / "strangler-stack.toml").write_text(stack_file())
    (pytester.path / "broken-stack.toml").write_text(stack_file(service_bug="rename"))
    (pytester.path / "changed-stack.toml").write_text(stack_file(monolith_bug="reprice"))
    golden = pytester.mkdir("golden")
    (golden / "items.har").write_text(requests_only("/api/items/1", "/api/items/2", "/api/items/9"))
    pytester.makeini(
        "[pytest]\nstrangler_corpus = golden\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


def record(team: pytest.Pytester) -> pytest.RunResult:
    result = team.runpytest_subprocess("--strangler-update-golden", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    return result


def test_a_corpus_is_recorded_then_passes_in_every_mode(team: pytest.Pytester) -> None:
    result = record(team)
    result.stdout.fnmatch_lines(
        ["golden corpus re-recorded from the monolith:", "*items GET /api/items/1*"]
    )
    manifest = (team.path / "golden" / "corpus.yaml").read_text()
    assert "$.served_at" in manifest  # differed between two answers of the monolith: noise
    har = json.loads((team.path / "golden" / "items.har").read_text())
    assert [e["response"]["status"] for e in har["log"]["entries"]] == [200, 200, 404]

    for mode in ("legacy", "shadow", "canary:100", "extracted"):
        run = team.runpytest_subprocess("-p", "no:cacheprovider", "--strangler-mode", mode, "-v")
        run.assert_outcomes(passed=3)
        run.stdout.fnmatch_lines(["*items.har::items GET /api/items/1 PASSED*"])


def test_a_broken_service_fails_naming_the_field(team: pytest.Pytester) -> None:
    record(team)
    result = team.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--strangler-mode",
        "items=extracted",
        "-o",
        "strangler_stack=broken-stack.toml",
    )
    result.assert_outcomes(passed=1, failed=2)  # the 404 is still right
    result.stdout.fnmatch_lines(
        [
            "items GET /api/items/1 (served by items: items in mode extracted) differs from "
            "the golden answer in $.item.cost, $.item.price",
            "$.item.cost: not expected, got 1999",
            "$.item.price: expected 1999, missing",
        ]
    )
    assert '"served_at"' not in result.stdout.str()  # paths, not a wall of JSON


def test_fixtures_compare_answers_with_readable_assertions(team: pytest.Pytester) -> None:
    record(team)
    team.makepyfile(
        test_items="""
        from pathlib import Path

        def test_extracted_answers_as_recorded(strangler_stack_factory, strangler_golden):
            stack = strangler_stack_factory(
                modes={"items": "extracted"}, stack_file=Path("broken-stack.toml")
            )
            for case in strangler_golden.cases("items"):
                assert strangler_golden.answer(case, stack.url) == strangler_golden.expected(case)
        """
    )
    result = team.runpytest_subprocess("-p", "no:cacheprovider", "test_items.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*assert items GET /api/items/1 (served by items: items in mode extracted) differs "
            "from the golden answer in $.item.cost, $.item.price",
            "E*$.item.price: expected 1999, missing",
        ]
    )


def test_re_recording_prints_what_changed(team: pytest.Pytester) -> None:
    record(team)
    result = team.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--strangler-update-golden",
        "-o",
        "strangler_stack=changed-stack.toml",
    )
    result.stdout.fnmatch_lines(
        [
            "items.har: items GET /api/items/1",
            "    $.item.price: expected 1999, got 2099",
            "items.har: items GET /api/items/2",
            "    $.item.price: expected 15000, got 15100",
            "1 golden answer(s) unchanged",
        ]
    )
    har = json.loads((team.path / "golden" / "items.har").read_text())
    assert '"price": 2099' in har["log"]["entries"][0]["response"]["content"]["text"]


def test_one_test_runs_in_every_mode(team: pytest.Pytester) -> None:
    record(team)
    team.makepyfile(
        test_modes="""
        import pytest

        @pytest.mark.parametrize("mode", ["legacy", "shadow", "canary:100", "extracted"])
        def test_items_in_every_mode(strangler_stack, strangler_golden, mode):
            strangler_stack.set_modes({"items": mode})
            verdicts = strangler_golden.assert_passes(strangler_stack.url, "items")
            served = {v.served_by for v in verdicts}
            print("mode", mode, "served by", *sorted(served))
        """
    )
    result = team.runpytest_subprocess("-p", "no:cacheprovider", "-s", "test_modes.py")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*mode legacy served by items;legacy;legacy*",
            "*mode shadow served by items;shadow;legacy*",
            "*mode canary:100 served by items;canary;items*",
            "*mode extracted served by items;extracted;items*",
        ]
    )


def test_a_running_facade_is_checked_without_starting_a_stack(team: pytest.Pytester) -> None:
    from regress import stackfile
    from regress.stack import Stack

    record(team)
    spec = stackfile.load(team.path / "broken-stack.toml")
    with Stack(team.path / "routes.yaml", spec, state_dir=team.path / "running") as stack:
        stack.set_modes({"items": "extracted"})
        result = team.runpytest_subprocess(
            "-p", "no:cacheprovider", "--strangler-base-url", stack.url
        )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["$.item.price: expected 1999, missing"])
    # the recording run started a stack; the checking run (runpytest-1) started none
    assert list(team.path.glob("runpytest-0/strangler-stack*"))
    assert not list(team.path.glob("runpytest-1/strangler-stack*"))
