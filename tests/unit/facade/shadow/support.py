"""Jobs and a recorder for the shadow runner's unit tests: no socket, no store thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from multidict import CIMultiDict
from yarl import URL

from facade import config
from facade.config.normalize import Target
from facade.shadow import Compared, ShadowJob
from parallel_run.compare import HttpAnswer
from parallel_run.record import ObservationRecord
from parallel_run.recorder import Recorder, RecorderStats
from parallel_run.store import NoiseCount
from parallel_run.store_settings import StoreSettings

JSON = (("Content-Type", "application/json"),)


def routes(tmp_path: Path, *, name: str = "routes.yaml", store: str = "") -> config.Config:
    path = tmp_path / name
    path.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n"
        "services:\n  s: {url: 'http://127.0.0.1:9', max_concurrency: 2}\n"
        "capabilities:\n  c:\n    service: s\n    mode: shadow\n"
        "    match:\n      - {path: /x}\n"
        f"store: {{url: 'sqlite:///{tmp_path / 'evidence.db'}'{store}}}\n"
    )
    return config.load(path)


def answer(**fields: object) -> HttpAnswer:
    return HttpAnswer(200, JSON, json.dumps(fields).encode())


def client(name: str, *, max_connections: int = 2) -> Any:
    return SimpleNamespace(
        name=name,
        base=URL("http://127.0.0.1:9"),
        settings=SimpleNamespace(max_connections=max_connections, connect_timeout=1.0),
    )


def job(loaded: config.Config, *, legacy: HttpAnswer, learn_noise: bool = False) -> ShadowJob:
    return ShadowJob(
        capability="c",
        route="/x",
        method="GET",
        target=Target("/x", None),
        headers=CIMultiDict(),
        body=None,
        legacy=legacy,
        legacy_ms=1.0,
        candidate=client("s"),
        timeout=1.0,
        legacy_client=client("legacy"),
        twin_fraction=1.0 if learn_noise else 0.0,
        learn_noise=learn_noise,
        config=loaded,
    )


def compared(
    loaded: config.Config,
    *,
    legacy: HttpAnswer,
    candidate: HttpAnswer,
    twin: HttpAnswer | None = None,
) -> Compared:
    return Compared(job(loaded, legacy=legacy, learn_noise=twin is not None), candidate, 2.0, twin)


class FakeRecorder:
    """What the worker hands to the recorder, kept for the test to read."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.records: list[ObservationRecord] = []
        self.matches: list[tuple[str, str]] = []
        self.noise: list[NoiseCount] = []
        self.flushes = 0
        self.closed = threading.Event()

    def submit(self, record: ObservationRecord) -> bool:
        self.records.append(record)
        return True

    def submit_match(
        self, experiment: str, route: str, control_ms: float | None, candidate_ms: float | None
    ) -> None:
        self.matches.append((experiment, route))

    def submit_noise(self, rows: Iterable[NoiseCount]) -> bool:
        self.noise.extend(rows)
        return True

    def flush(self) -> None:
        self.flushes += 1

    def close(self, timeout: float = 5.0) -> None:
        self.closed.set()

    def stats(self) -> RecorderStats:
        written = len(self.records) + len(self.matches)
        return RecorderStats(submitted=written, written=written, dropped={"c": 1}, store_ok=True)


class Recorders:
    """``open_recorder`` for ``StoreFollower``: every recorder it opened, in order."""

    def __init__(self) -> None:
        self.opened: list[FakeRecorder] = []

    def __call__(self, settings: StoreSettings, _config: config.Config) -> Recorder:
        recorder = FakeRecorder(settings)
        self.opened.append(recorder)
        return cast(Recorder, recorder)

    @property
    def last(self) -> FakeRecorder:
        return self.opened[-1]
