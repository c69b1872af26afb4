"""The corpus: cases named for a human, HAR written and read back, the manifest's rules, and
a mismatch explained path by path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facade import config as config_module
from parallel_run.compare import CompareRules, HttpAnswer
from parallel_run.traffic import RecordedExchange, RecordedResponse
from regress.check import GoldenAnswer, assertrepr, explain_comparison, rules_for
from regress.corpus import Manifest, har_bytes, load_cases, load_manifest, stable_headers
from regress.errors import CorpusError

JSON = (("Content-Type", "application/json"),)
ROUTES = (
    "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n"
    "services:\n  catalog: {url: 'http://127.0.0.1:9'}\n"
    "capabilities:\n  product-catalog:\n    service: catalog\n"
    "    match: [{methods: [GET, HEAD], path: '/api/products/{sku}'}]\n"
    "    compare: {ignore: ['$.generated_at']}\n"
)


@pytest.fixture
def config(tmp_path: Path) -> config_module.Config:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return config_module.load(path)


def answered(target: str, body: object, status: int = 200) -> RecordedExchange:
    response = RecordedResponse(status, JSON, json.dumps(body).encode())
    return RecordedExchange("GET", target, response=response)


def test_har_written_reads_back_as_named_cases(
    tmp_path: Path, config: config_module.Config
) -> None:
    corpus = tmp_path / "golden"
    corpus.mkdir()
    exchanges = [
        answered("/api/products/SKU-1", {"price": 1}),
        answered("/api/products/SKU-1", {"price": 1}),
        answered("/api/orders?page=2", {"orders": []}),
    ]
    (corpus / "shop.har").write_bytes(har_bytes(exchanges))
    cases = load_cases(corpus, config)
    assert [c.id for c in cases] == [
        "product-catalog GET /api/products/SKU-1",
        "product-catalog GET /api/products/SKU-1 #2",
        "monolith GET /api/orders?page=2",
    ]
    assert cases[0].exchange is not None
    assert cases[0].exchange.response is not None
    assert json.loads(cases[0].exchange.response.body) == {"price": 1}
    only = load_cases(corpus, config, capability="product-catalog")
    assert len(only) == 2


def test_a_request_without_an_answer_waits_for_recording(
    tmp_path: Path, config: config_module.Config
) -> None:
    entries = [{"request": {"method": "GET", "url": "http://shop/api/products/SKU-2"}}]
    (tmp_path / "new.har").write_text(json.dumps({"log": {"entries": entries}}))
    (case,) = load_cases(tmp_path, config)
    assert case.exchange is not None
    assert case.exchange.target == "/api/products/SKU-2"
    assert case.skip_reason is not None
    assert "--strangler-update-golden" in case.skip_reason


def test_volatile_answer_headers_are_not_kept() -> None:
    kept = stable_headers((("Date", "x"), ("Content-Type", "a/b"), ("X-Request-Id", "1")))
    assert kept == (("Content-Type", "a/b"),)


def test_the_manifest_adds_to_the_capability_s_rules(
    tmp_path: Path, config: config_module.Config
) -> None:
    (tmp_path / "corpus.yaml").write_text(
        "ignore:\n  product-catalog: ['$.last_upd']\n  '*': ['$.trace']\n"
        "noise:\n  product-catalog: ['$.served_at']\n"
    )
    manifest = load_manifest(tmp_path)
    rules = rules_for(config, "product-catalog", manifest)
    assert rules.ignore_paths == ("$.generated_at", "$.last_upd", "$.trace", "$.served_at")
    assert rules_for(config, "monolith", manifest).ignore_paths == ("$.trace",)


def test_the_manifest_is_saved_with_its_comments(tmp_path: Path) -> None:
    path = tmp_path / "corpus.yaml"
    path.write_text("# why these\nignore:\n  cap: ['$.a']\n")
    manifest = load_manifest(tmp_path)
    manifest.noise["cap"] = ["$.b"]
    manifest.save()
    text = path.read_text()
    assert "# why these" in text
    assert load_manifest(tmp_path).noise == {"cap": ["$.b"]}


@pytest.mark.parametrize("text", ["ignore: [a]\n", "extra: {}\n", "noise:\n  cap: ['no-dollar']\n"])
def test_a_bad_manifest_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "corpus.yaml").write_text(text)
    with pytest.raises(CorpusError, match=r"corpus\.yaml"):
        load_manifest(tmp_path)


def test_a_mismatch_reads_as_paths_with_expected_and_actual() -> None:
    rules = rules_for_default()
    expected = GoldenAnswer(
        HttpAnswer(200, JSON, b'{"product": {"unitPrice": 9695, "name": "chair"}}'), rules, "case"
    )
    actual = GoldenAnswer(
        HttpAnswer(200, JSON, b'{"product": {"unitPrice": 9700, "title": "chair"}}'), rules
    )
    assert actual != expected
    lines = assertrepr(actual, expected)
    assert lines[0] == (
        "case differs from the golden answer in $.product.name, $.product.title, "
        "$.product.unitPrice"
    )
    assert lines[1:] == [
        '$.product.name: expected "chair", missing',
        '$.product.title: not expected, got "chair"',
        "$.product.unitPrice: expected 9695, got 9700",
    ]
    same = GoldenAnswer(
        HttpAnswer(200, JSON, b'{"product":{"name":"chair","unitPrice":9695}}'), rules
    )
    assert same == expected


def test_a_status_and_a_missing_answer_are_explained() -> None:
    rules = rules_for_default()
    lost = GoldenAnswer(HttpAnswer.failed("ConnectionRefusedError: refused"), rules)
    expected = GoldenAnswer(HttpAnswer(200, JSON, b"{}"), rules)
    assert explain_comparison(lost.compare(expected)) == [
        "no answer: ConnectionRefusedError: refused"
    ]
    moved = GoldenAnswer(HttpAnswer(404, JSON, b"{}"), rules)
    assert explain_comparison(moved.compare(expected)) == ["status: expected 200, got 404"]


def rules_for_default() -> CompareRules:
    return CompareRules()


def test_manifest_paths_for_a_capability_without_entries() -> None:
    assert Manifest(Path("corpus.yaml")).paths_for("x") == ()
