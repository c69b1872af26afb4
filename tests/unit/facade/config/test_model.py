"""routes.yaml validation: every bad input is reported as PATH:LINE: message, never a traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from facade import config
from facade.errors import ConfigError

ROOT = Path(__file__).resolve().parents[4]

VALID = """\
version: 1
legacy:
  url: http://127.0.0.1:8000
services:
  catalog:
    url: http://127.0.0.1:8101
    timeout: 2s
capabilities:
  product-catalog:
    match:
      - {methods: [GET, HEAD], path: /api/products}
      - {methods: [GET, HEAD], path: "/api/products/{sku}"}
    service: catalog
    mode: shadow
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config.parse(textwrap.dedent(text), source="routes.yaml")
    return [str(p) for p in caught.value.problems]


def test_a_valid_file_parses_into_typed_settings() -> None:
    routes, matcher = config.parse(VALID)
    cap = routes.capabilities["product-catalog"]
    assert cap.mode == "shadow"
    assert routes.services["catalog"].timeout == 2.0
    assert routes.legacy.timeout == 30.0  # default
    match = matcher.match("GET", "/api/products/SKU-1")
    assert match is not None
    assert match.route.capability == "product-catalog"
    assert match.params == {"sku": "SKU-1"}


def test_the_shipped_routes_file_is_valid_and_all_legacy() -> None:
    loaded = config.load(ROOT / "routes.yaml")
    assert loaded.routes.capabilities
    assert {c.mode for c in loaded.routes.capabilities.values()} == {"legacy"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", "routes.yaml:1: the file is empty", id="empty-file"),
        pytest.param("# only a comment\n", "routes.yaml:1: the file is empty", id="comment-only"),
        pytest.param(
            "version: 1\nlegacy:\n  url: [http://x\n",
            "routes.yaml:4: YAML syntax error",
            id="syntax-error",
        ),
        pytest.param(
            "version: 1\nversion: 1\nlegacy: {url: 'http://x:1'}\n",
            "routes.yaml:2: YAML syntax error",
            id="duplicate-key",
        ),
        pytest.param("- a\n- b\n", "routes.yaml:1: the top level must be a mapping", id="list"),
        pytest.param(
            "version: 1\nlegacy: {url: 'http://x:1'}\nlegasy: {}\n",
            "routes.yaml:3: unknown key 'legasy' in top level",
            id="unknown-top-key",
        ),
        pytest.param(
            VALID + "    moed: canary\n",
            "routes.yaml:15: unknown key 'moed' in capabilities.product-catalog",
            id="unknown-nested-key",
        ),
        pytest.param(
            VALID.replace("mode: shadow", "mode: shadw"),
            "routes.yaml:14: capabilities.product-catalog.mode: 'shadw' is not one of",
            id="unknown-mode",
        ),
        pytest.param(
            VALID.replace("service: catalog", "service: catalogue"),
            "routes.yaml:13: capability 'product-catalog' names service 'catalogue', which is "
            "not under 'services:'",
            id="undefined-service",
        ),
        pytest.param(
            VALID
            + "  shadow-copy:\n    match:\n      - {methods: [GET], path: '/api/products/{id}'}\n",
            "routes.yaml:17: route '/api/products/{id}' of capability 'shadow-copy' overlaps "
            "'/api/products/{sku}' of capability 'product-catalog' (line 12)",
            id="overlapping-routes",
        ),
        pytest.param(
            VALID.replace("timeout: 2s", "timeout: 2 fortnights"),
            "routes.yaml:7: services.catalog.timeout: expected a duration",
            id="bad-duration",
        ),
        pytest.param(
            VALID.replace("timeout: 2s", "timeout: -1"),
            "routes.yaml:7: services.catalog.timeout: a duration must be positive",
            id="negative-duration",
        ),
        pytest.param(
            VALID + "    canary: {percent: 150}\n",
            "routes.yaml:15: capabilities.product-catalog.canary.percent: a percent must be "
            "between 0 and 100",
            id="percent-over-100",
        ),
        pytest.param(
            VALID + "    canary: {percent: lots}\n",
            "routes.yaml:15: capabilities.product-catalog.canary.percent: expected a percent",
            id="percent-not-a-number",
        ),
        pytest.param(
            "version: 2\nlegacy: {url: 'http://x:1'}\n",
            "routes.yaml:1: version: 2 is not one of 1",
            id="wrong-version",
        ),
        pytest.param(
            "version: 1\n",
            "routes.yaml:1: legacy is required",
            id="missing-legacy",
        ),
        pytest.param(
            "version: 1\nlegacy: {url: 'ftp://x'}\n",
            "routes.yaml:2: legacy.url: expected an http(s) URL",
            id="bad-url",
        ),
        pytest.param(
            VALID.replace("mode: shadow", "mode: canary").replace("    service: catalog\n", ""),
            "routes.yaml:9: capabilities.product-catalog: mode 'canary' needs a 'service'",
            id="mode-without-service",
        ),
        pytest.param(
            VALID.replace("path: /api/products}", "path: /api/../products}"),
            "routes.yaml:11: capabilities.product-catalog.match.0.path: '/api/../products' has an "
            "empty or dot segment",
            id="template-with-dot-segment",
        ),
        pytest.param(
            VALID.replace("[GET, HEAD], path: /api/products}", "[get], path: /api/products}"),
            "routes.yaml:11: capabilities.product-catalog.match.0.methods: 'get' is not an HTTP "
            "method",
            id="lower-case-method",
        ),
        pytest.param(
            VALID + "    canary: {percent: 5, sticky: 'query:id'}\n",
            "routes.yaml:15: capabilities.product-catalog.canary.sticky: sticky must be",
            id="bad-sticky",
        ),
    ],
)
def test_each_bad_input_names_file_and_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_all_problems_are_reported_at_once_in_line_order() -> None:
    text = VALID.replace("mode: shadow", "mode: nope").replace("timeout: 2s", "timeout: soon")
    found = problems(text)
    assert [p.split(":")[1] for p in found] == ["7", "14"]


def test_an_unquoted_brace_template_gets_a_hint() -> None:
    found = problems(
        "version: 1\nlegacy: {url: 'http://x:1'}\ncapabilities:\n"
        "  a:\n    match: [{path: /a/{x}}]\n"
    )
    assert "quote path templates" in found[0]


def test_a_missing_file_is_reported_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml:1: cannot read the file"):
        config.load(tmp_path / "nope.yaml")


def test_relative_paths_resolve_against_the_routes_file(tmp_path: Path) -> None:
    routes = tmp_path / "conf" / "routes.yaml"
    routes.parent.mkdir()
    routes.write_text(
        "version: 1\nlegacy: {url: 'http://x:1'}\nstore: {url: 'sqlite:///data/s.db'}\n"
    )
    loaded = config.load(routes)
    assert loaded.store_url == f"sqlite:///{tmp_path / 'conf' / 'data' / 's.db'}"


def test_an_absolute_sqlite_path_is_kept(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "version: 1\nlegacy: {url: 'http://x:1'}\nstore: {url: 'sqlite:////var/s.db'}\n"
    )
    assert config.load(routes).store_url == "sqlite:////var/s.db"


def test_units_accept_the_documented_forms() -> None:
    routes, _ = config.parse(
        "version: 1\nlegacy: {url: 'http://x:1', timeout: 250ms}\n"
        "limits: {max_body: 5MiB}\n"
        "services: {s: {url: 'http://y:2', circuit_breaker: {open_for: 1m}}}\n"
    )
    assert routes.legacy.timeout == 0.25
    assert routes.limits.max_body == 5 * 1024 * 1024
    assert routes.services["s"].circuit_breaker.open_for == 60.0


def test_the_digest_changes_only_with_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("version: 1\nlegacy: {url: 'http://x:1'}\n")
    first = config.load(path).digest
    path.write_text("version: 1\nlegacy: {url: 'http://x:1'}\n")
    assert config.load(path).digest == first
    path.write_text("version: 1\nlegacy: {url: 'http://x:2'}\n")
    assert config.load(path).digest != first


def test_a_seam_naming_an_unknown_service_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:8000'}\nseams:\n"
        "  pricing:\n    implementation: new\n    service: nowhere\n"
    )
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert f"{path}:6: seam 'pricing' names service 'nowhere'" in str(caught.value)


@pytest.mark.parametrize(
    ("mode", "fallback", "fallback_unsafe", "expected"),
    [
        ("canary", "legacy", None, True),  # before cutover the monolith still owns the data
        ("shadow", "legacy", None, True),
        ("extracted", "legacy", None, False),  # after cutover: writes stay off its database
        ("extracted", "legacy", "legacy", True),
        ("canary", "legacy", "error", False),
        ("extracted", "error", None, False),
        ("canary", "error", "error", False),
    ],
)
def test_unsafe_methods_fall_back_before_cutover_or_when_said(
    mode: str, fallback: str, fallback_unsafe: str | None, expected: bool
) -> None:
    extra = f"    fallback: {fallback}\n" + (
        f"    fallback_unsafe: {fallback_unsafe}\n" if fallback_unsafe else ""
    )
    routes, _ = config.parse(VALID.replace("mode: shadow", f"mode: {mode}") + extra)
    assert routes.capabilities["product-catalog"].unsafe_falls_back is expected


def test_fallback_unsafe_legacy_without_fallback_is_reported_at_its_line() -> None:
    found = problems(VALID + "    fallback: error\n    fallback_unsafe: legacy\n")
    assert found == [
        "routes.yaml:16: capabilities.product-catalog.fallback_unsafe: legacy needs "
        "fallback: legacy (fallback_unsafe only narrows it)"
    ]


def test_body_limits_have_defaults_and_units() -> None:
    routes, _ = config.parse(VALID)
    assert (routes.limits.body_buffer, routes.limits.body_idle_timeout) == (65536, 15.0)
    assert routes.limits.body_deadline == 60.0
    text = VALID + "limits: {body_buffer: 1MB, body_idle_timeout: 500ms, body_deadline: 2m}\n"
    routes, _ = config.parse(text)
    assert (routes.limits.body_buffer, routes.limits.body_idle_timeout) == (1_000_000, 0.5)
    assert routes.limits.body_deadline == 120.0
    assert problems(VALID + "limits: {body_idle_timeout: 0s}\n") == [
        "routes.yaml:15: limits.body_idle_timeout: a duration must be positive, got '0s'"
    ]
