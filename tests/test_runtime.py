"""msgen_runtime, the library every generated service imports, tested on its own."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import ValidationError
from sqlalchemy import String, UniqueConstraint, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import AsyncAdaptedQueuePool

from msgen_runtime.app import create_service_app
from msgen_runtime.db import async_url
from msgen_runtime.problems import Conflict, Problem, install_problem_handlers
from msgen_runtime.schemas import PatchModel
from msgen_runtime.settings import ServiceSettings
from msgen_runtime.testing import temporary_database
from msgen_runtime.uow import flush

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/x", "postgresql+asyncpg://u:p@db:5432/x"),
        ("postgresql://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("postgresql+asyncpg://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("sqlite:///./a.db", "sqlite+aiosqlite:///./a.db"),
        ("sqlite+aiosqlite:///./a.db", "sqlite+aiosqlite:///./a.db"),
    ],
)
def test_database_urls_get_an_async_driver(given: str, expected: str) -> None:
    assert async_url(given) == expected


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("already there")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=418, detail="short and stout")

    @app.get("/items/{n}")
    async def item(n: int) -> dict[str, int]:
        return {"n": n}

    return app


async def _get(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as c:
        return await c.get(path)


async def test_an_unexpected_error_is_a_500_problem_without_internals() -> None:
    answer = await _get(_app(), "/boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "secret" not in answer.text
    assert answer.json()["title"] == "Internal Server Error"


def _database_app(engine: Any) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/count")
    async def count() -> dict[str, int]:
        async with AsyncSession(engine) as session:
            return {"n": (await session.execute(text("SELECT 1"))).scalar_one()}

    return app


async def test_a_database_that_cannot_be_opened_is_a_503_to_retry_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")
    before = set(threading.enumerate())  # another test file's pooled connections may live on in this worker
    try:
        with caplog.at_level("ERROR", logger="msgen.problems"):
            answer = await _get(_database_app(engine), "/count")
    finally:
        await engine.dispose()
        # aiosqlite's thread of the connection that failed to open ends on its own: not after this test's loop
        async with asyncio.timeout(60):
            while any("_connection_worker_thread" in t.name for t in set(threading.enumerate()) - before):
                await asyncio.sleep(0.01)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Service Unavailable" and "no-such-folder" not in answer.text
    assert [r.getMessage() for r in caplog.records] == ["database unavailable"]


async def test_a_pool_with_no_connection_to_give_is_a_503(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.1,
    )
    try:
        async with engine.connect() as held:  # the pool's one connection, held by someone else
            await held.execute(text("SELECT 1"))
            busy = await _get(_database_app(engine), "/count")
        free = await _get(_database_app(engine), "/count")
    finally:
        await engine.dispose()
    assert busy.status_code == 503 and busy.json()["title"] == "Service Unavailable"
    assert free.status_code == 200 and free.json() == {"n": 1}


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [("/conflict", 409, "Conflict"), ("/teapot", 418, "I'm a Teapot"), ("/nowhere", 404, "Not Found")],
)
async def test_errors_are_problem_json(path: str, status: int, title: str) -> None:
    answer = await _get(_app(), path)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == status and body["title"] == title and body["instance"] == path


async def test_validation_errors_list_each_field() -> None:
    answer = await _get(_app(), "/items/not-a-number")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == ["path", "n"]


def test_patch_model_refuses_null_for_required_fields() -> None:
    class ThingUpdate(PatchModel):
        non_nullable: ClassVar[frozenset[str]] = frozenset({"name"})
        name: str | None = None
        note: str | None = None

    assert ThingUpdate.model_validate({"note": None}).model_fields_set == {"note"}
    with pytest.raises(ValidationError, match="name cannot be null"):
        ThingUpdate.model_validate({"name": None})
    with pytest.raises(ValidationError):
        ThingUpdate.model_validate({"unknown": 1})


async def test_readiness_follows_the_database() -> None:
    settings = ServiceSettings(service_name="t", database_url="postgresql://nobody@127.0.0.1:1/none")
    app = create_service_app(title="t", version="v1", description="d", settings=settings, routers=[APIRouter()])
    ready = await _get(app, "/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"database": "failing"}}
    live = await _get(app, "/health/live")
    assert live.status_code == 200
    await app.state.database.dispose()


def test_temporary_database_is_created_and_dropped(postgres_url: str) -> None:
    async def exists(name: str) -> bool:
        conn = await asyncpg.connect(postgres_url)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    with temporary_database(postgres_url, prefix="runtime") as url:
        name = url.rsplit("/", 1)[-1]
        assert asyncio.run(exists(name))
    assert not asyncio.run(exists(name))


def _admin_app(token: str | None) -> FastAPI:
    """A service's admin routes as the messaging runtime mounts them: behind require_token(token)."""
    from msgen_runtime.admin import require_token

    app = FastAPI()
    install_problem_handlers(app)
    router = APIRouter(prefix="/admin", dependencies=[require_token(token)])

    @router.get("/dead-letters")
    async def dead_letters() -> list[dict[str, str]]:
        return [{"id": "00000000-0000-4000-8000-000000000001", "topic": "order.created"}]

    app.include_router(router)
    return app


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer wrong", 401), ("Basic s3cret", 401), ("Bearer s3cret", 200), ("bearer s3cret", 200)],
)
async def test_admin_routes_ask_for_the_admin_token(authorization: str | None, status: int) -> None:
    transport = httpx.ASGITransport(app=_admin_app("s3cret"))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        headers = {"Authorization": authorization} if authorization else {}
        answer = await client.get("/admin/dead-letters", headers=headers)
    assert answer.status_code == status
    if status == 401:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] == 'Bearer realm="admin"'
        assert "s3cret" not in answer.text


@pytest.mark.parametrize("configured", [None, ""])
async def test_admin_routes_without_a_token_are_closed(configured: str | None) -> None:
    transport = httpx.ASGITransport(app=_admin_app(configured))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for authorization in (None, "Bearer ", "Bearer None"):
            headers = {"Authorization": authorization} if authorization else {}
            answer = await client.get("/admin/dead-letters", headers=headers)
            assert answer.status_code == 403
            assert answer.headers["content-type"] == "application/problem+json"


def test_msgen_dlq_sends_the_admin_token() -> None:
    from typer.testing import CliRunner

    from msgen.cli import app as cli
    from msgen_runtime.testing import serve_app

    with serve_app(_admin_app("s3cret")) as url:
        refused = CliRunner().invoke(cli, ["dlq", url])
        listed = CliRunner().invoke(cli, ["dlq", url], env={"MSGEN_ADMIN_TOKEN": "s3cret"})
    assert refused.exit_code == 1 and "401" in refused.stderr
    assert "the admin token was refused: pass the service's ADMIN_TOKEN with --token" in refused.stderr
    assert "http" not in refused.stderr.replace(url, "")  # msgen's own words, not a library's link
    assert listed.exit_code == 0, listed.stderr
    assert "order.created" in listed.stdout


def _conflicts_of(url: str) -> list[str]:
    """The 409 details of two rows breaking a unique column, then two breaking a unique pair."""

    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: Mapped[str] = mapped_column(String(8), primary_key=True)
        email: Mapped[str] = mapped_column(String(80), unique=True)

    class Seat(Base):
        __tablename__ = "seats"
        __table_args__ = (UniqueConstraint("row", "place"),)
        id: Mapped[str] = mapped_column(String(8), primary_key=True)
        row: Mapped[str] = mapped_column(String(8))
        place: Mapped[str] = mapped_column(String(8))

    async def run() -> list[str]:
        engine = create_async_engine(async_url(url))
        details: list[str] = []
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            pairs: list[tuple[Base, Base]] = [
                (User(id="1", email="ada@example.com"), User(id="2", email="ada@example.com")),
                (Seat(id="1", row="A", place="7"), Seat(id="2", row="A", place="7")),
            ]
            for first, second in pairs:
                async with AsyncSession(engine) as session:
                    session.add(first)
                    await session.flush()
                    session.add(second)
                    with pytest.raises(Problem) as caught:
                        await flush(session)
                    assert caught.value.status == 409
                    details.append(caught.value.detail or "")
        finally:
            await engine.dispose()
        return details

    return asyncio.run(run())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_unique_conflict_names_its_field_without_the_database_text(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        details = _conflicts_of(f"sqlite+aiosqlite:///{tmp_path / 'u.db'}")
    else:
        with temporary_database(request.getfixturevalue("postgres_url"), prefix="conflict") as url:
            details = _conflicts_of(url)
    assert details == [
        "conflicts with an existing resource: its email is already taken (must be unique)",
        "conflicts with an existing resource: its row and place are already taken (must be unique)",
    ]


# SQLite on the event loop (msgen_runtime.sqlite)


@pytest.mark.anyio
async def test_sqlite_statements_run_on_the_loop_and_a_lock_is_waited_for_on_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service's SQLite statements run on the event loop (no thread hand-off per call). A second writer
    on the same file, in the same loop, finds it locked: it waits on a thread, the loop goes on, and the
    first writer's commit lets it through; both rows are written."""
    import threading

    import sqlalchemy as sa

    from msgen_runtime import sqlite
    from msgen_runtime.db import Database

    waits: list[int] = []  # the threads that waited for a lock
    wait = sqlite.InlineConnection._waiting

    def waiting_on_a_thread(self: sqlite.InlineConnection, *args: Any) -> Any:
        waits.append(threading.get_ident())
        return wait(self, *args)

    monkeypatch.setattr(sqlite.InlineConnection, "_waiting", waiting_on_a_thread)
    url = f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}"
    first, second = Database(url), Database(url)
    threads: set[int] = set()

    def note_thread(*_: object) -> None:
        threads.add(threading.get_ident())

    for database in (first, second):
        sa.event.listen(database.engine.sync_engine, "before_cursor_execute", note_thread)
    async with first.engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"))
    async with first.sessions() as holder:
        await holder.execute(sa.text("INSERT INTO notes (text) VALUES ('first')"))  # holds the write lock

        async def write_second() -> None:
            async with second.sessions() as session:
                await session.execute(sa.text("INSERT INTO notes (text) VALUES ('second')"))
                await session.commit()

        waiting = asyncio.create_task(write_second())
        while not waits:  # the second writer found the file locked and went to a thread to wait
            await asyncio.sleep(0.01)
        assert not waiting.done()
        await holder.commit()
    await asyncio.wait_for(waiting, 10)
    async with first.read_sessions() as session:
        assert list(await session.scalars(sa.text("SELECT text FROM notes ORDER BY id"))) == ["first", "second"]
    assert threading.get_ident() in threads  # the statements ran on the loop's thread
    assert waits and threading.get_ident() not in waits
    await first.dispose()
    await second.dispose()


@pytest.mark.anyio
async def test_sqlite_checkpoints_run_on_a_thread_after_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit on the loop does not checkpoint the write-ahead log (a sync to disk that stalled the loop):
    every CHECKPOINT_CHANGES changed rows, a checkpoint runs on a thread, and the log starts over."""
    import threading

    import sqlalchemy as sa

    from msgen_runtime import sqlite
    from msgen_runtime.db import Database

    checkpoints: list[int] = []
    checkpoint = sqlite._checkpoint

    def on_a_thread(connection: Any) -> None:
        checkpoints.append(threading.get_ident())
        checkpoint(connection)

    monkeypatch.setattr(sqlite, "_checkpoint", on_a_thread)
    monkeypatch.setattr(sqlite, "CHECKPOINT_CHANGES", 10)
    path = tmp_path / "wal.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    async with database.engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"))
        assert (await conn.execute(sa.text("PRAGMA wal_autocheckpoint"))).scalar() == 0
    sizes = []
    for round_ in range(3):
        for i in range(10):
            async with database.sessions() as session:
                await session.execute(sa.text("INSERT INTO notes (text) VALUES (:t)"), {"t": f"{round_}-{i}" * 500})
                await session.commit()
        sizes.append((tmp_path / "wal.db-wal").stat().st_size)
    assert len(checkpoints) == 3 and threading.get_ident() not in checkpoints
    assert sizes[2] == sizes[1]  # after a complete checkpoint the next write starts the log over
    await database.dispose()


@pytest.mark.anyio
async def test_a_pooled_connection_is_pinged_only_after_sitting_idle(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping (a round trip) per transaction on a connection just used; one idle longer than
    PING_AFTER_IDLE is pinged, and one the server dropped meanwhile is replaced without an error."""
    import sqlalchemy as sa

    from msgen_runtime import db as dbmodule
    from msgen_runtime.db import Database

    database = Database(postgres_url, pool_size=1)
    dialect = database.engine.sync_engine.dialect
    pings = 0
    ping = dialect.do_ping

    def counting(connection: Any) -> bool:
        nonlocal pings
        pings += 1
        return ping(connection)

    monkeypatch.setattr(dialect, "do_ping", counting)
    backends = []
    for _ in range(5):
        async with database.sessions() as session:
            backends.append(await session.scalar(sa.text("SELECT pg_backend_pid()")))
    assert pings == 0 and len(set(backends)) == 1
    killer = await asyncpg.connect(postgres_url)
    try:
        await killer.execute("SELECT pg_terminate_backend($1)", backends[0])
    finally:
        await killer.close()
    monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE", 0.0)  # the connection now counts as idle
    async with database.sessions() as session:
        assert await session.scalar(sa.text("SELECT pg_backend_pid()")) != backends[0]
    assert pings >= 1
    await database.dispose()
