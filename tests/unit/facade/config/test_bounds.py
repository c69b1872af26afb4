"""The bounded routes.yaml loader (SECURITY.md F1): size, file kind, aliases, depth, and error
messages that never quote a large input whole. Each refusal is a ConfigError ``PATH:LINE: ...``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facade.config import model as config
from facade.errors import ConfigError, quoted

HEAD = "version: 1\nlegacy: {url: 'http://127.0.0.1:8000'}\n"
CAPABILITY = "capabilities:\n  orders:\n    match: [{path: /orders}]\n"
# nine levels of nine aliases: 9**9 (387 million) strings from 600 bytes
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    (problem,) = caught.value.problems
    return str(problem)


def refusal_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        config.parse(text, source="routes.yaml")
    (problem,) = caught.value.problems
    return str(problem)


# -- the file: size and kind ------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_from_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.MAX_BYTES_ENV, "1KiB")
    path = tmp_path / "routes.yaml"
    path.write_text(HEAD + "#" * 2000 + "\n")
    message = refusal(path)
    assert message.startswith(f"{path}:1: the file is 2,")
    assert "over the size limit of 1,024 bytes" in message
    assert config.MAX_BYTES_ENV in message  # says how to raise it


def test_the_default_size_limit_is_4_mib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.MAX_BYTES_ENV, raising=False)
    path = tmp_path / "routes.yaml"
    path.write_bytes(HEAD.encode() + b"#" * (4 * 1024**2))
    assert "over the size limit of 4.0 MiB" in refusal(path)


def test_a_bad_size_limit_in_the_environment_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.MAX_BYTES_ENV, "lots")
    path = tmp_path / "routes.yaml"
    path.write_text(HEAD)
    assert f"${config.MAX_BYTES_ENV}: expected a size" in refusal(path)


def test_a_file_within_the_limit_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.MAX_BYTES_ENV, "1KiB")
    path = tmp_path / "routes.yaml"
    path.write_text(HEAD + CAPABILITY)
    assert list(config.load(path).routes.capabilities) == ["orders"]


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "routes.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    message = refusal(fifo)  # opening it for reading would wait for a writer: the test's timeout
    assert message == (
        f"{fifo}:1: not a regular file: a FIFO; refused without reading it (routes.yaml must "
        "be a regular file or a symlink to one)"
    )
    assert time.monotonic() - started < 2


def test_a_symlink_to_a_device_is_refused_and_names_its_target(tmp_path: Path) -> None:
    link = tmp_path / "routes.yaml"
    link.symlink_to("/dev/zero")
    message = refusal(link)
    assert message.startswith(f"{link}:1: not a regular file: a character device ('/dev/zero'")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert "not a regular file: a directory" in refusal(tmp_path)


def test_a_symlink_to_a_regular_file_is_fine(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(HEAD + CAPABILITY)
    link = tmp_path / "routes.yaml"
    link.symlink_to(real)
    assert config.load(link).source == real


def test_a_file_swapped_for_a_fifo_after_the_stat_is_refused_by_fstat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regular = tmp_path / "regular.yaml"
    regular.write_text(HEAD)
    fifo = tmp_path / "routes.yaml"
    os.mkfifo(fifo)
    real_stat = os.stat
    # the race: stat saw a regular file, then the path was replaced by a FIFO
    monkeypatch.setattr(
        config.os, "stat", lambda p, *a, **k: real_stat(regular if p == fifo else p, *a, **k)
    )
    assert "not a regular file: a FIFO" in refusal(fifo)


def test_a_file_that_grows_while_read_is_cut_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.MAX_BYTES_ENV, "1KiB")
    path = tmp_path / "routes.yaml"
    path.write_text(HEAD + "#" * 5000)
    real = os.stat(path)
    # stat and fstat both see 100 bytes: the file grows between fstat and read
    small = os.stat_result(
        (real.st_mode, real.st_ino, real.st_dev, real.st_nlink, 0, 0, 100, 0, 0, 0)
    )
    reads: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(config.os, "stat", lambda *a, **k: small)
    monkeypatch.setattr(config.os, "fstat", lambda fd: small)
    monkeypatch.setattr(config.os, "read", counting_read)
    assert "grew past the size limit of 1,024 bytes while being read" in refusal(path)
    assert sum(reads) <= 1025


# -- the YAML: aliases, depth, values ----------------------------------------------------------


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_bound() -> None:
    started = time.monotonic()
    message = refusal_of(BOMB + HEAD.replace("version: 1", "version: *i"))
    assert time.monotonic() - started < 2
    assert message.startswith("routes.yaml:")
    assert "expands the file past 262,144 values (an alias bomb?)" in message
    line = int(message.split(":")[1])
    assert BOMB.splitlines()[line - 1].startswith("f:")  # f holds 9**6 = 531,441 strings


def test_an_alias_to_the_node_that_contains_it_is_refused() -> None:
    assert refusal_of(HEAD + "x: &x [1, *x]\n") == (
        "routes.yaml:3: alias *'x' refers to a node that contains it"
    )


def test_nesting_deeper_than_the_bound_is_refused() -> None:
    deep = "[" * 70 + "]" * 70
    assert refusal_of(HEAD + f"x: {deep}\n") == (
        f"routes.yaml:3: values nested more than {config.MAX_DEPTH} levels deep"
    )


def test_nesting_through_aliases_counts_the_expanded_depth() -> None:
    chain = "a: &a " + "[" * 40 + "]" * 40 + "\nb: &b " + "[" * 30 + "*a" + "]" * 30 + "\n"
    message = refusal_of(HEAD + chain)
    assert message == (
        f"routes.yaml:4: values nested more than {config.MAX_DEPTH} levels deep (aliases expanded)"
    )


def test_a_file_with_too_many_values_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.MAX_BYTES_ENV, "1KiB")  # 64 values
    message = refusal_of(HEAD + "x: [" + ", ".join(["1"] * 100) + "]\n")
    assert message == (
        "routes.yaml:3: the file holds more than 64 values (one per 16 bytes of the size "
        f"limit; ${config.MAX_BYTES_ENV} sets it)"
    )


def test_ordinary_anchors_and_merge_keys_still_work() -> None:
    text = (
        HEAD
        + "services:\n"
        + "  a: &defaults {url: 'http://127.0.0.1:8101', timeout: 3s, retries: 2}\n"
        + "  b: {<<: *defaults, url: 'http://127.0.0.1:8102'}\n"
    )
    routes, _ = config.parse(text)
    assert routes.services["b"].timeout == 3.0
    assert routes.services["b"].retries == 2


# -- error messages quote at most 80 characters of a value -------------------------------------


def test_the_version_error_quotes_a_long_value_cut() -> None:
    message = refusal_of(HEAD.replace("version: 1", "version: " + "x" * 100_000))
    assert message.startswith("routes.yaml:1: version: 'xxxx")
    assert "..." in message
    assert len(message) < 200


def test_the_version_error_quotes_an_aliased_list_cut() -> None:
    aliased = "a: &a [" + ", ".join(["lol"] * 100) + "]\nb: &b [" + ", ".join(["*a"] * 100) + "]\n"
    with pytest.raises(ConfigError) as caught:
        config.parse(aliased + HEAD.replace("version: 1", "version: *b"))
    (message,) = [str(p) for p in caught.value.problems if ": version: " in str(p)]
    assert "version: [['lol', 'lol'" in message
    assert len(message) < 200


def test_a_huge_unknown_key_is_quoted_cut() -> None:
    message = refusal_of(HEAD + "k" * 1000 + ": 1\n")  # YAML allows keys of 1,024
    assert message.startswith("routes.yaml:3: unknown key 'kkk")
    assert len(message) < 200


def test_a_huge_upstream_url_is_quoted_cut() -> None:
    message = refusal_of(HEAD.replace("http://127.0.0.1:8000", "ftp://" + "h" * 100_000))
    assert "got 'ftp://hhh" in message
    assert len(message) < 250


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_quoted_is_never_longer_than_its_limit(value: object) -> None:
    assert len(quoted(value)) <= 80


def test_quoted_cost_does_not_grow_with_the_value() -> None:
    shared: list[object] = ["lol"] * 10
    for _ in range(9):
        shared = [shared] * 10  # 10**10 strings reachable, as an alias bomb makes
    started = time.monotonic()
    assert quoted(shared).startswith("[[[[[[[[[['lol', 'lol'")
    assert quoted(10**5000) == "<a very large integer>"
    assert time.monotonic() - started < 0.1


def test_a_file_of_many_bad_values_is_reported_in_50_problems() -> None:
    bad = "capabilities:\n" + "".join(
        f"  c{i}: {{match: [{{path: /c{i}}}], mode: x}}\n" for i in range(80)
    )
    with pytest.raises(ConfigError) as caught:
        config.parse(HEAD + bad)
    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 51
    assert problems[0].startswith("routes.yaml:4: capabilities.c0.mode: 'x' is not one of")
    assert problems[-1] == "routes.yaml:53: ... and 30 more problems"
