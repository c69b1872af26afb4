"""routes.yaml compiled into nginx.conf: the map, the splits, the mirror and the fallback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facade.config import Config
from strangler.export import nginx
from strangler.export.plan import ExportError, Options
from tests.support.export_routes import every_mode

OPTIONS = Options(
    listen=("127.0.0.1", 8088),
    facade_url="http://127.0.0.1:9000",
    compare_url="http://127.0.0.1:9001",
)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return every_mode(tmp_path)


def block(text: str, head: str) -> str:
    """The body of the first block opened by ``head {``."""
    start = text.index(head + " {")
    depth, i = 0, start + len(head)
    while True:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
        i += 1


def test_every_path_written_is_inside_the_prefix(config: Config) -> None:
    text = nginx.render(config, OPTIONS)
    for directive in ("pid", "error_log", "access_log", "client_body_temp_path", "proxy_temp_path"):
        (value,) = re.findall(rf"^\s*{directive} (\S+?)[ ;]", text, re.MULTILINE)
        assert not value.startswith("/"), directive


def test_the_route_map_is_in_the_matchers_order(config: Config) -> None:
    routes = block(nginx.render(config, OPTIONS), 'map "$request_method:$uri" $strangler_route')
    entries = re.findall(r'^\s+"(~[^"]+)" "([^"]+)";', routes, re.MULTILINE)
    keys = [key for key, _ in entries]
    special = keys.index("~^(GET):/moved/special/?$")
    assert special < keys.index("~^(POST|PUT):/moved/[^/]+/?$")
    assert dict(entries)["~^(GET):/moved/special/?$"] == "@legacy"
    assert 'default "@legacy";' in routes


def test_a_canary_is_split_on_its_sticky_key(config: Config) -> None:
    text = nginx.render(config, OPTIONS)
    index = list(config.routes.capabilities).index("split")
    split = block(text, f'split_clients "${{strangler_key_{index}}}" $strangler_side_{index}')
    assert "30% service;" in split
    assert "* legacy;" in split
    key = block(text, f"map $http_x_customer_id $strangler_key_{index}")
    assert '"" $remote_addr;' in key  # no header: the client's address, as the facade
    assert f"@c{index}_safe_$strangler_side_{index}" in text


def test_a_cookie_key_is_read_from_the_cookie_header(tmp_path: Path) -> None:
    config = every_mode(tmp_path, sticky="cookie:session-id")
    text = nginx.render(config, OPTIONS)
    index = list(config.routes.capabilities).index("split")
    cookie = block(text, f"map $http_cookie $strangler_cookie_{index}")
    line = '"~^(?:.*;)?\\s*session\\-id=\\"?(?<v>[^;\\"]*)" $v;'
    assert line in cookie
    # the last of repeated cookies, as aiohttp's request.cookies; not a name ending in it
    pattern = re.compile(line[2:].split('" $v')[0].replace('\\"', '"').replace("(?<v>", "(?P<v>"))
    for header, key in [
        ("session-id=a", "a"),
        ('theme=x; session-id="a"; other=1', "a"),
        ("session-id=a; xsession-id=c; session-id=b", "b"),
        ("xsession-id=c", None),
    ]:
        found = pattern.search(header)
        assert (found and found["v"]) == key, header
    assert f"map $strangler_cookie_{index} $strangler_key_{index}" in text


def test_extracted_falls_back_to_a_backup_monolith(config: Config) -> None:
    text = nginx.render(config, OPTIONS)
    fallback = block(text, "upstream strangler_fallback_other")
    assert "server 127.0.0.1:18000 backup;" in fallback
    index = list(config.routes.capabilities).index("moved")
    safe = block(text, f"location @c{index}_safe")
    assert "proxy_pass http://strangler_fallback_other;" in safe
    assert "proxy_next_upstream error timeout http_500 http_502 http_503 http_504;" in safe
    unsafe = block(text, f"location @c{index}_unsafe")  # extracted: writes stay with it
    assert "proxy_pass http://strangler_service_other;" in unsafe
    assert "proxy_next_upstream off;" in unsafe


def test_retries_list_the_service_once_per_attempt(config: Config) -> None:
    fallback = block(nginx.render(config, OPTIONS), "upstream strangler_fallback_svc")
    assert fallback.count("server 127.0.0.1:18001 ") == 2  # retries: 1
    assert "max_fails=10 fail_timeout=30s max_conns=32" in fallback  # 64 shared by 2


def test_shadow_mirrors_a_sample_of_safe_requests(config: Config) -> None:
    text = nginx.render(config, OPTIONS)
    index = list(config.routes.capabilities).index("shadowed")
    assert f"mirror /_strangler/mirror/{index};" in block(text, f"location @c{index}_safe")
    assert "mirror" not in block(text, f"location @c{index}_unsafe")
    sample = block(text, f'split_clients "$request_id" $strangler_mirror_{index}')
    assert '10% "1";' in sample
    target = block(text, f"location = /_strangler/mirror/{index}")
    assert "proxy_pass http://strangler_compare$request_uri;" in target
    assert 'proxy_set_header X-Strangler-Shadow "1";' in target


def test_forwarded_headers_and_hop_by_hop_are_set_once_for_the_server(config: Config) -> None:
    server = block(nginx.render(config, OPTIONS), "server")
    assert "proxy_set_header Host $http_host;" in server
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in server
    assert 'proxy_set_header Proxy-Authorization "";' in server
    assert "listen 127.0.0.1:8088;" in server


def test_a_fallback_across_schemes_cannot_be_expressed(tmp_path: Path) -> None:
    config = every_mode(tmp_path, service="https://127.0.0.1:18001")
    with pytest.raises(ExportError, match="differ in scheme"):
        nginx.render(config, OPTIONS)


def test_no_translator_capability_without_a_facade(config: Config) -> None:
    with pytest.raises(ExportError, match="--facade-url"):
        nginx.render(config, Options())


@pytest.mark.parametrize(
    ("percent", "lines"),
    [
        (30, ["30% service;", "* legacy;"]),
        (12.345, ["12.35% service;", "* legacy;"]),  # nginx's precision: 0.01%
        (0.001, ["* legacy;"]),
        (0, ["* legacy;"]),
        (99.999, ["* service;"]),
        (100, ["* service;"]),
    ],
)
def test_a_split_is_written_to_nginxs_precision(
    tmp_path: Path, percent: float, lines: list[str]
) -> None:
    config = every_mode(tmp_path, percent=percent)
    index = list(config.routes.capabilities).index("split")
    split = block(
        nginx.render(config, OPTIONS),
        f'split_clients "${{strangler_key_{index}}}" $strangler_side_{index}',
    )
    assert [line.strip() for line in split.splitlines()[1:-1]] == lines
