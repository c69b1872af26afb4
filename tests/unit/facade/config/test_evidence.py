"""The store's redaction follows routes.yaml: configured names on top of the built-in ones."""

from __future__ import annotations

from pathlib import Path

from facade import config
from facade.config.evidence import redactor_for, store_settings


def test_configured_headers_fields_and_query_parameters_are_redacted(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n"
        "store: {redact: [x-session], redact_fields: [card_number], body_limit: 1KB}\n"
    )
    loaded = config.load(routes)
    redactor = redactor_for(loaded)
    assert dict(redactor.headers([("X-Session", "abc"), ("Accept", "a/b")])) == {
        "X-Session": "[REDACTED]",
        "Accept": "a/b",
    }
    body = redactor.body(
        b'{"card_number": "4111", "password": "pw", "sku": "S"}', "application/json"
    )
    assert b"4111" not in body
    assert b"pw" not in body  # a built-in secret name, though not configured
    assert b'"S"' in body
    assert "4111" not in redactor.target("/pay?card_number=4111&sku=S")
    settings = store_settings(loaded)
    assert settings.body_limit == 1000
    assert settings.base_dir == tmp_path
    assert settings.url == loaded.store_url
    assert settings.redactor.headers([("X-Session", "abc")]) == redactor.headers(
        [("X-Session", "abc")]
    )
