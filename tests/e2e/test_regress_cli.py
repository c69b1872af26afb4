"""``strangler regress``: the golden corpus outside pytest. Exit 0 when every case answers as
recorded, 3 with the differing fields named (text, --json, --junit), 2 for bad input; against a
facade already running (--base-url) or a stack it starts and stops (--stack, --mode). The demo
shop's catalog service with a deliberate bug (prices rounded) is caught, naming the field."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from parallel_run.traffic import RecordedExchange, RecordedResponse
from regress import stackfile
from regress.corpus import har_bytes
from regress.stack import Stack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
STRANGLER = Path(sys.executable).parent / "strangler"
TOY = ROOT / "tests" / "support" / "toy_shop.py"
JSON = (("Content-Type", "application/json"),)


def toy_answer(status: int, body: object) -> RecordedResponse:
    return RecordedResponse(status, JSON, json.dumps(body).encode())


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """A team's checkout: the toy shop, routes.yaml, stack files, a recorded corpus."""
    shutil.copy(TOY, tmp_path / "toy_shop.py")
    (tmp_path / "routes.yaml").write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n"
        "services:\n  items: {url: 'http://127.0.0.1:9'}\n"
        "capabilities:\n  items:\n    match: [{methods: [GET], path: '/api/items/{id}'}]\n"
        "    service: items\n    mode: legacy\n"
    )
    for name, bug in (("strangler-stack.toml", ""), ("broken-stack.toml", "rename")):
        (tmp_path / name).write_text(
            '[monolith]\ncommand = ["{python}", "toy_shop.py", "{port}"]\nready = "/healthz"\n'
            f'[services.items]\ncommand = ["{{python}}", "toy_shop.py", "{{port}}", "{bug}"]\n'
            'ready = "/healthz"\n'
        )
    golden = tmp_path / "golden"
    golden.mkdir()
    chair = {"item": {"id": "1", "name": "chair", "price": 1999}, "served_at": 0}
    (golden / "items.har").write_bytes(
        har_bytes(
            [
                RecordedExchange("GET", "/api/items/1", response=toy_answer(200, chair)),
                RecordedExchange(
                    "GET", "/api/items/9", response=toy_answer(404, {"error": "no item 9"})
                ),
            ]
        )
    )
    (golden / "corpus.yaml").write_text("noise:\n  items: [$.served_at]\n")
    return tmp_path


def regress(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STRANGLER), "regress", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def running(team: Path) -> Iterator[Stack]:
    spec = stackfile.load(team / "strangler-stack.toml")
    with Stack(team / "routes.yaml", spec, state_dir=team / "state") as stack:
        yield stack


def test_a_running_facade_that_answers_as_recorded_passes(team: Path, running: Stack) -> None:
    done = regress(team, "--corpus", "golden", "--base-url", running.url, "--junit", "out.xml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("golden: 2 passed, 0 failed")
    suite = ET.parse(team / "out.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "0")


def test_a_broken_service_is_exit_3_naming_the_field(team: Path) -> None:
    args = ["--corpus", "golden", "--stack", "broken-stack.toml", "--mode", "items=extracted"]
    done = regress(team, *args, "--junit", "out.xml")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "FAIL items GET /api/items/1" in done.stdout
    assert "$.item.price: expected 1999, missing" in done.stdout
    assert "golden: 1 passed, 1 failed" in done.stdout
    failure = ET.parse(team / "out.xml").getroot().find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "differs in $.item.cost, $.item.price"

    as_json = regress(team, *args, "--json")
    assert as_json.returncode == 3
    report = json.loads(as_json.stdout)
    (wrong,) = [case for case in report["cases"] if not case["passed"]]
    assert wrong["served_by"] == "items;extracted;items"
    assert {d["path"] for d in wrong["differences"]} == {"$.item.price", "$.item.cost"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--capability", "nope"], "no capability 'nope'"),
        (["--corpus", "missing"], "no such corpus directory"),
        (["--base-url", "http://127.0.0.1:9", "--mode", "extracted"], "not with --base-url"),
        (["--mode", "sideways"], "mode must be one of"),
        (["--stack", "absent.toml"], "no stack file"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(team: Path, args: list[str], message: str) -> None:
    done = regress(team, "--corpus", "golden", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert done.stderr.startswith("strangler regress: ")


# the demo shop: the real catalog service with prices rounded ----------------------------------


@pytest.fixture(scope="module")
def rounding_stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's stack file with the catalog replaced by tests/support/rounding_catalog.py."""
    text = (ROOT / "strangler-stack.toml").read_text()
    real = '["{python}", "-m", "extracted.catalog", "--port", "{port}"]'
    assert real in text
    text = text.replace(
        real, '["{python}", "-m", "tests.support.rounding_catalog", "--port", "{port}"]'
    )
    text = text.replace("[env]\n", f"[env]\nPYTHONPATH = {json.dumps(str(ROOT))}\n")
    path = tmp_path_factory.mktemp("rounding") / "strangler-stack.toml"
    path.write_text(text)
    return path


def test_a_rounded_price_is_caught_by_strangler_regress(rounding_stack: Path) -> None:
    done = regress(
        ROOT,
        "--stack",
        str(rounding_stack),
        "--mode",
        "product-catalog=extracted",
        "--capability",
        "product-catalog",
        "--json",
    )
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    wrong = {case["target"]: case for case in report["cases"] if not case["passed"]}
    detail = wrong["/api/products/SKU-00001"]
    assert detail["served_by"] == "product-catalog;extracted;catalog"
    assert [(d["path"], d["control"], d["candidate"]) for d in detail["differences"]] == [
        ("$.product.unitPrice", 25195, 25200)
    ]
    assert "/api/products/SKU-99999" not in wrong  # errors still answer as recorded


def test_a_rounded_price_is_caught_by_the_golden_suite(rounding_stack: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "tests/golden",
            "--strangler-mode",
            "product-catalog=extracted",
            "-o",
            f"strangler_stack={rounding_stack}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "product-catalog GET /api/products/SKU-00001 (served by catalog: product-catalog in mode "
        "extracted) differs from the golden answer in $.product.unitPrice"
    ) in done.stdout
    assert "$.product.unitPrice: expected 25195, got 25200" in done.stdout
    assert "5 failed, 7 passed" in done.stdout
