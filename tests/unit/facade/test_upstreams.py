"""A client a reload replaced is closed once no configuration still in use refers to it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from facade import config
from facade.state import FacadeState, LiveConfig
from facade.upstream import Upstreams, UpstreamSettings
from tests.support.fake_upstream import FakeUpstream


def load(tmp_path: Path, name: str, *, timeout: float) -> config.Config:
    path = tmp_path / name
    path.write_text(f"version: 1\nlegacy: {{url: 'http://127.0.0.1:9', timeout: {timeout}}}\n")
    return config.load(path)


class Client(FakeUpstream):
    """A fake client whose close can be awaited (it is a task on the loop)."""

    def __init__(self, name: str, settings: UpstreamSettings) -> None:
        super().__init__(name, settings)
        self.gone = asyncio.Event()

    async def close(self) -> None:
        await super().close()
        self.gone.set()


async def closed(client: FakeUpstream) -> None:
    assert isinstance(client, Client)
    async with asyncio.timeout(10):
        await client.gone.wait()


class Made:
    """A new fake client per call, as the pooled factory makes a new session per settings."""

    def __init__(self) -> None:
        self.clients: list[Client] = []

    def __call__(self, settings: UpstreamSettings) -> Client:
        client = Client(settings.name, settings)
        self.clients.append(client)
        return client


async def test_a_replaced_client_closes_with_the_last_configuration_using_it(
    tmp_path: Path,
) -> None:
    made = Made()
    first = load(tmp_path, "a.yaml", timeout=5)
    state = FacadeState(LiveConfig(first), upstreams=Upstreams(made))
    old = state.client(first, "legacy")
    assert state.client(first, "legacy") is old
    in_flight = first  # a request that started before the reload still holds it
    state.live.current = load(tmp_path, "b.yaml", timeout=7)
    del first
    new = state.client(state.live.current, "legacy")
    assert new is not old
    await asyncio.sleep(0)
    assert not old.closed  # in use: closing it would cut the request
    del in_flight
    await closed(old)
    assert not new.closed
    # a reload that leaves the settings alone keeps the client, and closes nothing
    state.live.current = load(tmp_path, "c.yaml", timeout=7)
    assert state.client(state.live.current, "legacy") is new
    await asyncio.sleep(0)
    assert not new.closed
    await state.upstreams.close()
    assert new.closed


async def test_the_last_user_may_be_another_thread(tmp_path: Path) -> None:
    made = Made()
    first = load(tmp_path, "a.yaml", timeout=5)
    state = FacadeState(LiveConfig(first), upstreams=Upstreams(made))
    old = state.client(first, "legacy")
    state.live.current = load(tmp_path, "b.yaml", timeout=7)
    state.client(state.live.current, "legacy")
    job = [first]  # a shadow job's configuration, let go by the compare thread
    del first
    thread = threading.Thread(target=job.clear)
    thread.start()
    thread.join()
    await closed(old)
    await state.upstreams.close()


async def test_shutdown_closes_every_client_once(tmp_path: Path) -> None:
    made = Made()
    first = load(tmp_path, "a.yaml", timeout=5)
    state = FacadeState(LiveConfig(first), upstreams=Upstreams(made))
    state.client(first, "legacy")
    state.live.current = load(tmp_path, "b.yaml", timeout=7)
    state.client(state.live.current, "legacy")
    await state.upstreams.close()  # the first configuration is still held: closed now
    assert [c.closed for c in made.clients] == [True, True]


async def test_a_replaced_client_nobody_holds_is_closed_at_once() -> None:
    made = Made()
    upstreams = Upstreams(made)
    first = upstreams.get(UpstreamSettings("legacy", "http://a.test", 1.0, 1.0, 10))
    upstreams.release(first)
    assert not first.closed  # still the one in use
    upstreams.get(UpstreamSettings("legacy", "http://a.test", 2.0, 1.0, 10))
    await closed(first)
    await upstreams.close()


async def test_a_release_while_the_clients_are_locked_does_not_hang() -> None:
    # a configuration freed by the collector inside get() (the factory allocates under the
    # lock) releases its clients in the thread that holds the lock
    made = Made()
    upstreams = Upstreams(made)
    first = upstreams.get(UpstreamSettings("legacy", "http://a.test", 1.0, 1.0, 10))
    upstreams.get(UpstreamSettings("legacy", "http://a.test", 2.0, 1.0, 10))

    def release_while_locked() -> None:
        with upstreams._lock:
            upstreams.release(first)

    thread = threading.Thread(target=release_while_locked, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the release waited for a lock its own thread holds"
    await closed(first)
    await upstreams.close()
