"""A throwaway PostgreSQL server for integration tests: initdb + pg_ctl in a temp dir.

How it runs here. The tests run as root, and PostgreSQL refuses to run as root ("root"
execution of the PostgreSQL server is not permitted). So when euid is 0, initdb and pg_ctl
run through ``runuser -u <user> --`` as an unprivileged user: ``postgres`` if the machine has
that account (the Debian package creates it), else ``nobody``. The data lives in a directory
made with ``mkdtemp`` directly under /tmp (pytest's own tmp dirs are mode 0700 for root, which
that user cannot enter) and chowned to the user; the Unix socket goes there too (``-k``), so
nothing touches /var/run/postgresql. The server listens on 127.0.0.1 only, on a free port,
with ``--auth=trust``, and fsync off: the tests need speed, not durability.

Skipped (``pytest.skip``) only when ``initdb`` is not on PATH.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port


def _runner() -> list[str]:
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"]
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


def _owner() -> str | None:
    runner = _runner()
    return runner[2] if runner else None


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in ``root``; ``start()``/``stop()`` may be called repeatedly."""

    root: Path
    port: int
    database: str = "strangler"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*_runner(), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(
                f"{argv[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                f"{server_log}"
            )

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
            "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        """Create database ``name`` (if missing) and return its SQLAlchemy URL."""
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                connection.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)


@contextmanager
def running(*, port: int | None = None, database: str = "strangler") -> Iterator[PostgresServer]:
    """A started PostgreSQL with ``database`` created; stopped and deleted afterwards."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("initdb/pg_ctl not on PATH: PostgreSQL tests need a local PostgreSQL")
    root = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
    owner = _owner()
    if owner is not None:
        shutil.chown(root, user=owner)
    server = PostgresServer(root=root, port=port or free_port(), database=database)
    started = False
    try:
        server.init()
        server.start()
        started = True
        server.create_database(database)
        yield server
    finally:
        if started:
            with suppress(RuntimeError):  # already stopped by the test
                server.stop()
        shutil.rmtree(root, ignore_errors=True)


def wait_closed(port: int, timeout: float = 10) -> None:
    """Wait until nothing listens on ``port`` (after a stop)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)
