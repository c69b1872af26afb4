"""strangler.engine.supervisor's reload: a good change swapped in and announced to the hooks;
a file that does not load, one Envoy cannot express and one ``envoy --mode validate`` refuses
each leave the last good configuration in force, with the reason as last_reload_error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from facade.config import Config, load
from strangler.engine import supervisor
from strangler.engine.files import DATA
from strangler.engine.supervisor import Engine, EngineOptions, Refused
from tests.support.probe import wait_until

GOOD = """\
version: 1
legacy: {{url: "http://127.0.0.1:18101"}}
services:
  svc: {{url: "{svc}"}}
capabilities:
  moved:
    match: [{{path: /moved}}]
    service: svc
    mode: {mode}
"""


def write(path: Path, *, mode: str = "extracted", svc: str = "http://127.0.0.1:18102") -> Path:
    path.write_text(GOOD.format(mode=mode, svc=svc))
    return path


def engine(tmp_path: Path) -> tuple[Engine, list[tuple[str, str]]]:
    routes = write(tmp_path / "routes.yaml")
    calls: list[tuple[str, str]] = []

    def hook(config: Config, config_hash: str) -> None:
        calls.append((config.digest, config_hash))

    options = EngineOptions(routes, envoy="envoy", on_config=(hook,))
    work = tmp_path / "work"
    work.mkdir()
    return Engine(options, load(routes), work), calls


def _read(path: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


@pytest.fixture
def verdicts(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """What the stand-in for ``envoy --mode validate`` answers next (None: accepted)."""
    answers: list[str | None] = []

    async def validate(envoy: str, config: Path) -> str | None:
        assert "static_resources" in _read(config)  # the static equivalent, as JSON
        return answers.pop(0) if answers else None

    monkeypatch.setattr(supervisor, "validate", validate)
    return answers


async def until(condition: Callable[[], bool]) -> None:
    """The shared ``wait_until``, off the loop (the hooks run in a thread, spawned)."""
    await asyncio.to_thread(wait_until, condition, "the hooks ran", timeout=5)


def rds(tmp_path: Path) -> dict[str, object]:
    return _read(tmp_path / "work/live/rds.json")


async def test_a_good_change_is_swapped_in_and_announced(
    tmp_path: Path, verdicts: list[str | None]
) -> None:
    run, calls = engine(tmp_path)
    first = run.state.config
    await run.put_in_force(first, await run.compiled(first))
    write(run.options.routes, mode="legacy")
    assert await run.reload()
    await until(lambda: len(calls) == 2)
    fresh = load(run.options.routes)
    assert run.state.config.digest == fresh.digest
    assert run.state.last_reload_error is None
    assert rds(tmp_path)["version_info"] == fresh.digest
    assert (tmp_path / "work/live" / DATA).is_symlink()
    assert [digest for digest, _ in calls] == [first.digest, fresh.digest]
    assert calls[0][1] != calls[1][1]  # the hash of the files Envoy runs


@pytest.mark.parametrize(
    ("breaks", "reason"),
    [
        (lambda path: path.write_text("version: 1\nlegacy: {url: 'ftp://x'}\n"), ":2: legacy.url"),
        (
            lambda path: write(path, svc="http://127.0.0.1:18102/api"),
            "envoy cannot express this routes.yaml",
        ),
        (lambda path: path.unlink(), "No such file"),
    ],
)
async def test_a_bad_change_leaves_the_last_good_configuration(
    tmp_path: Path, verdicts: list[str | None], breaks: Callable[[Path], object], reason: str
) -> None:
    run, calls = engine(tmp_path)
    first = run.state.config
    await run.put_in_force(first, await run.compiled(first))
    before = rds(tmp_path)
    breaks(run.options.routes)
    assert not await run.reload()
    await until(lambda: len(calls) == 1)  # the start's, and no other: no reload took
    assert reason in (run.state.last_reload_error or "")
    assert run.state.config is first
    assert rds(tmp_path) == before
    assert len(calls) == 1
    write(run.options.routes, mode="legacy")  # the next good file clears the error
    assert await run.reload()
    assert run.state.last_reload_error is None


async def test_a_configuration_envoy_refuses_is_not_swapped_in(
    tmp_path: Path, verdicts: list[str | None]
) -> None:
    run, _ = engine(tmp_path)
    first = run.state.config
    await run.put_in_force(first, await run.compiled(first))
    verdicts.append("envoy --mode validate refused it: bad regex")
    write(run.options.routes, mode="legacy")
    assert not await run.reload()
    assert "bad regex" in (run.state.last_reload_error or "")
    assert str(run.options.routes) in (run.state.last_reload_error or "")
    assert rds(tmp_path)["version_info"] == first.digest


async def test_at_start_a_refusal_names_the_file(
    tmp_path: Path, verdicts: list[str | None]
) -> None:
    run, _ = engine(tmp_path)
    verdicts.append("envoy --mode validate refused it: no")
    with pytest.raises(Refused, match=str(run.options.routes)):
        await run.compiled(run.state.config)


async def test_the_watcher_loads_an_edit_saved_while_the_engine_started(
    tmp_path: Path, verdicts: list[str | None]
) -> None:
    # the edit lands after the start's load and before the watcher's first stamp (Envoy and
    # its helpers take seconds to start): it must not become the watcher's baseline
    run, _ = engine(tmp_path)
    first = run.state.config
    await run.put_in_force(first, await run.compiled(first))
    (tmp_path / "routes.yaml").write_text("version: 1\nlegacy: {url: 'not a url'}\n")
    watcher = asyncio.ensure_future(run.watch())
    try:
        await asyncio.to_thread(
            wait_until, lambda: run.state.last_reload_error is not None, "reported", timeout=5
        )
        assert "legacy.url" in (run.state.last_reload_error or "")
        assert run.state.config is first
    finally:
        watcher.cancel()
