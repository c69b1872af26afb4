"""The service chassis on its own, with a toy service: settings from the service's variable,
errors in the service's shape (never a traceback), the unit of work's transaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.orm import Session

from extracted.chassis.database import ServiceDatabase
from extracted.chassis.http import error_middleware, json_response
from extracted.chassis.settings import ServiceSettings
from extracted.chassis.unit_of_work import SqlAlchemyUnitOfWork, UnitOfWork


@dataclass(frozen=True, slots=True)
class ToySettings(ServiceSettings):
    database_env: ClassVar[str] = "TOY_DB"

    database_url: str = "sqlite:///toy.db"
    port: int = 9000


def test_settings_read_the_service_s_own_variable_and_arguments_win() -> None:
    assert ToySettings.from_env({}) == ToySettings("sqlite:///toy.db", "127.0.0.1", 9000)
    from_env = ToySettings.from_env({"TOY_DB": "sqlite:///env.db", "OTHER_DB": "x"})
    assert from_env.database_url == "sqlite:///env.db"
    chosen = ToySettings.from_env({"TOY_DB": "x"}, database_url="sqlite:///arg.db", port=1)
    assert (chosen.database_url, chosen.port, chosen.host) == ("sqlite:///arg.db", 1, "127.0.0.1")


class Refused(Exception):
    pass


def _toy_error_json(code: str, message: str) -> dict[str, Any]:
    return {"problem": code, "text": message}


def _toy_domain_error(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    return (409, _toy_error_json("refused", str(exc))) if isinstance(exc, Refused) else None


@pytest.fixture
async def toy() -> AsyncIterator[TestClient[Any, Any]]:
    async def refuse(_request: web.Request) -> web.Response:
        raise Refused("not today")

    async def crash(_request: web.Request) -> web.Response:
        raise ZeroDivisionError("secret internals")

    async def fine(_request: web.Request) -> web.Response:
        return json_response(200, {"ok": True})

    middleware = error_middleware(
        domain_error=_toy_domain_error,
        error_json=_toy_error_json,
        log=logging.getLogger("test.toy"),
    )
    app = web.Application(middlewares=[middleware])
    app.router.add_get("/refuse", refuse)
    app.router.add_get("/crash", crash)
    app.router.add_get("/fine", fine)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_service_error_leaves_in_the_service_s_own_shape(
    toy: TestClient[Any, Any],
) -> None:
    response = await toy.get("/refuse")
    assert response.status == 409
    assert await response.json() == {"problem": "refused", "text": "not today"}
    assert (await (await toy.get("/fine")).json()) == {"ok": True}


async def test_http_errors_take_the_shape_and_a_405_keeps_its_allow_header(
    toy: TestClient[Any, Any],
) -> None:
    missing = await toy.get("/nowhere")
    assert (missing.status, await missing.json()) == (
        404,
        {"problem": "not_found", "text": "Not Found"},
    )
    wrong_method = await toy.post("/fine")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["problem"] == "method_not_allowed"
    assert wrong_method.headers["Allow"] == "GET, HEAD"


async def test_an_unexpected_error_is_a_500_without_the_traceback(
    toy: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    response = await toy.get("/crash")
    assert response.status == 500
    body = await response.text()
    assert "secret internals" not in body
    assert "ZeroDivisionError" in caplog.text  # the log has it, the client does not


class ToyUnitOfWork(SqlAlchemyUnitOfWork, UnitOfWork):
    sqlite_begin = "BEGIN IMMEDIATE"

    def open_repositories(self, session: Session) -> None:
        self.session = session


def test_the_unit_of_work_rolls_back_unless_committed(tmp_path: Path) -> None:
    database = ServiceDatabase(migrations=tmp_path, version_table="toy_version")
    engine = database.create_engine(f"sqlite:///{tmp_path / 'toy.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (n INTEGER)"))
        with ToyUnitOfWork(engine) as uow:
            uow.session.execute(text("INSERT INTO t VALUES (1)"))
        with ToyUnitOfWork(engine) as uow:
            uow.session.execute(text("INSERT INTO t VALUES (2)"))
            uow.commit()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT n FROM t")).scalars().all() == [2]
        assert database.current_revision(engine) is None  # never migrated
        with pytest.raises(RuntimeError, match="outside its with block"):
            ToyUnitOfWork(engine).commit()
    finally:
        engine.dispose()
