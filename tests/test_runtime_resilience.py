"""The runtime under failure: crashed requests, a lost broker, failing replays, overload.

Real processes and servers: the service of tests/fixtures/resilience_app.py under a real uvicorn
(killed with SIGKILL mid-request), SQLite and PostgreSQL, a nats-server of each test's own.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from msgen_runtime.app import create_service_app
from msgen_runtime.db import Database
from msgen_runtime.entities import utcnow
from msgen_runtime.gateway.app import create_gateway_app
from msgen_runtime.gateway.routing import Route
from msgen_runtime.gateway.settings import GatewaySettings
from msgen_runtime.messaging.broker import NatsJetStream, RabbitMQ
from msgen_runtime.messaging.codec import EventType
from msgen_runtime.messaging.consumer import Consumer, Subscription
from msgen_runtime.messaging.outbox import message_headers, partition_of
from msgen_runtime.messaging.runtime import MessagingConfig
from msgen_runtime.settings import ServiceSettings
from msgen_runtime.testing import nats_server, nats_server_binary, serve_app, temporary_database
from tests.messaging_support import BusBase, Dead, Inbox, Outbox, Partition, Ping, ping_event

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def _fixture_app() -> Any:
    name = "msgen_tests_resilience_app"
    spec = importlib.util.spec_from_file_location(name, FIXTURES / "resilience_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the models' annotations are resolved in their module
    spec.loader.exec_module(module)
    return module


THINGS = _fixture_app().Base.metadata  # the fixture service's tables


# ---------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], *, within: float = 30.0, what: str = "condition") -> float:
    """Poll until `condition` holds; returns the seconds it took (fails after `within`)."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if condition():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {within}s")


def create_tables(url: str, metadata: sa.MetaData) -> str:
    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await engine.dispose()

    asyncio.run(run())
    return url


def sql(url: str, statement: str, **params: Any) -> list[Any]:
    """Run one statement on its own connection; the rows it returns."""

    async def run() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(sa.text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgresql"])
def things_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The fixture service's database (its tables made), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield create_tables(f"sqlite+aiosqlite:///{tmp_path / 'things.db'}", THINGS)
        return
    with temporary_database(request.getfixturevalue("postgres_url"), prefix="resil") as url:
        yield create_tables(url, THINGS)


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """kill -9 of the whole process group, mid-whatever."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


@contextmanager
def service(database_url: str, workdir: Path, **env: str) -> Iterator[Service]:
    """tests/fixtures/resilience_app.py under a real uvicorn in its own process group."""
    port = free_port()
    log = workdir / f"service-{port}.log"
    path = os.pathsep.join([str(ROOT / "src"), str(FIXTURES), os.environ.get("PYTHONPATH", "")])
    environment = {
        **os.environ,
        "PYTHONPATH": path,
        "PYTHONUNBUFFERED": "1",
        "SERVICE_NAME": "resilience",
        "MSGEN_DEV_MODE": "1",  # the runtime under test, not the caller check (tests/test_fail_closed.py)
        "DATABASE_URL": database_url,
        **env,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "resilience_app:create_app"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def live() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the service exited: {log.read_text()[-2000:]}")
            try:
                return httpx.get(f"{url}/health/live", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(live, within=60, what="the service started")
        yield Service(url, process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def post_thing(url: str, key: str, *, timeout: float = 60, name: str = "widget") -> httpx.Response:
    return httpx.post(f"{url}/things", json={"name": name}, headers={"Idempotency-Key": key}, timeout=timeout)


def retry_until_done(url: str, key: str, *, within: float = 60) -> tuple[httpx.Response, int]:
    """What a client does: retry with the same key after a 409 or 503, as Retry-After says; the answer, the 409s."""
    deadline = time.monotonic() + within
    conflicts = 0
    while time.monotonic() < deadline:
        answer = post_thing(url, key)
        if answer.status_code not in (409, 503):
            return answer, conflicts
        conflicts += answer.status_code == 409
        time.sleep(min(float(answer.headers["Retry-After"]), 1.0))
    raise AssertionError(f"key {key} still refused after {within}s")


def key_state(url: str, key: str) -> str | None:
    rows = sql(url, "SELECT state FROM idempotency_keys WHERE key = :key", key=key)
    return str(rows[0][0]) if rows else None


def things(url: str) -> int:
    return int(sql(url, "SELECT count(*) FROM things")[0][0])


# ------------------------------------------------------------------------------------ idempotency leases


def test_a_key_whose_attempt_died_with_its_process_is_taken_over_by_the_retry(things_db: str, tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    hold.write_text("before 3600")
    key = str(uuid.uuid4())
    # the duplicate below must come within the first attempt's deadline: 20 s leaves a loaded machine room for
    # the polls and the request between (the retry then waits out the 22 s lease)
    lease = {"IDEMPOTENCY_LEASE_SECONDS": "22", "REQUEST_TIMEOUT_SECONDS": "20", "RESIL_HOLD_FILE": str(hold)}
    with ThreadPoolExecutor(1) as pool, service(things_db, tmp_path, **lease) as first:
        pending = pool.submit(post_thing, first.url, key)
        wait_for(lambda: key_state(things_db, key) == "in_flight", what="the first attempt claimed its key")
        duplicate = post_thing(first.url, key)  # while the first attempt's lease is live: refused, no second effect
        assert duplicate.status_code == 409
        # the first attempt is within its deadline: it ends soon, one way or the other, so "retry in 1 s"
        assert duplicate.headers["Retry-After"] == "1"
        first.kill()
        with pytest.raises(httpx.TransportError):
            pending.result(timeout=30)
    hold.unlink()
    assert key_state(things_db, key) == "in_flight"  # the dead attempt's claim is still there
    with service(things_db, tmp_path, **lease) as second:
        answer, _ = retry_until_done(second.url, key, within=120)
        assert answer.status_code == 201, answer.text
        again = post_thing(second.url, key)
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == answer.json()
        assert any(r["event"] == "idempotency.taken_over" for r in second.records())
    assert things(things_db) == 1
    assert key_state(things_db, key) == "done"


def test_an_attempt_that_outlives_its_lease_is_rolled_back_when_a_retry_took_over(
    things_db: str, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    # inside the transaction, its thing written; work the deadline cannot stop; only the first attempt holds
    hold.write_text("after 20 once stuck")
    key = str(uuid.uuid4())
    # 3 s to reach the hold (a first request opens the service's connections), however loaded the machine
    env = {"IDEMPOTENCY_LEASE_SECONDS": "4", "REQUEST_TIMEOUT_SECONDS": "3", "RESIL_HOLD_FILE": str(hold)}
    with service(things_db, tmp_path, **env) as svc:
        start = time.monotonic()
        first = post_thing(svc.url, key)
        # answered at its deadline although its work goes on: not "done", so the client retries
        assert first.status_code == 503, first.text
        # at its 3 s deadline, not when its 20 s of work end: a bound far from both, whatever the machine's load
        assert time.monotonic() - start < 12
        assert not hold.exists()
        retried, _ = retry_until_done(svc.url, key)
        assert retried.status_code == 201, retried.text
        wait_for(
            lambda: any(r["event"] == "http.finished_after_deadline" for r in svc.records()),
            within=90,
            what="the stuck first attempt ended",
        )
        assert post_thing(svc.url, key).json() == retried.json()
        if things_db.startswith("postgresql"):
            # the retry took the key over and made the thing; the stuck attempt's own thing was rolled back
            assert any(r["event"] == "idempotency.taken_over" for r in svc.records())
        # (on SQLite the stuck attempt holds the one writer, so it finishes first and the retry replays it)
    assert things(things_db) == 1
    assert key_state(things_db, key) == "done"


def test_concurrent_requests_with_one_key_have_one_effect(things_db: str, tmp_path: Path) -> None:
    key = str(uuid.uuid4())

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(
                *(client.post("/things", json={"name": "widget"}, headers={"Idempotency-Key": key}) for _ in range(20))
            )

    with service(things_db, tmp_path) as svc:
        answers = asyncio.run(burst(svc.url))
    assert {a.status_code for a in answers} <= {201, 409}
    created = [a.json() for a in answers if a.status_code == 201]
    assert created
    assert all(body == created[0] for body in created)
    assert things(things_db) == 1


# --------------------------------------------------------------------------------- deadline and shedding


def test_a_request_past_its_deadline_is_cancelled_and_rolled_back(things_db: str, tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    hold.write_text("after 30")  # inside the transaction, after the row was written
    key = str(uuid.uuid4())
    with service(things_db, tmp_path, REQUEST_TIMEOUT_SECONDS="1.5", RESIL_HOLD_FILE=str(hold)) as svc:
        start = time.monotonic()
        refused = post_thing(svc.url, key)
        assert time.monotonic() - start < 10
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.headers["Retry-After"] == "1"
        assert "deadline" in refused.json()["detail"]
        assert things(things_db) == 0  # nothing happens later either: the transaction is gone
        wait_for(lambda: key_state(things_db, key) is None, within=60, what="the key freed for the retry")
        # the gateway says it waits less: the service gives up before the gateway does
        start = time.monotonic()
        shorter = httpx.post(
            f"{svc.url}/things",
            json={"name": "other"},
            headers={"X-Request-Timeout-Ms": "600"},
            timeout=30,
        )
        assert shorter.status_code == 503
        # the gateway's 600 ms less the half second kept to answer it, not the service's own 1.5 s: said by the
        # answer, not by a clock a loaded machine would stretch (the bound only guards against the 30 s hold)
        assert "deadline of 0.1s" in shorter.json()["detail"], shorter.text
        assert time.monotonic() - start < 10
        hold.unlink()
        assert post_thing(svc.url, key).status_code == 201
    assert things(things_db) == 1


@contextmanager
def writes_blocked(url: str) -> Iterator[None]:
    """Another connection holds the things table (SQLite: the database) in a write lock until the block ends."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")  # as the service has it
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO things VALUES (?, 'held')", (uuid.uuid4().hex,))
        try:
            yield
        finally:
            conn.rollback()
            conn.close()
        return
    locked = threading.Event()
    release = threading.Event()

    def hold() -> None:
        async def run() -> None:
            engine = create_async_engine(url)
            try:
                async with engine.connect() as conn:
                    await conn.execute(sa.text("LOCK TABLE things IN EXCLUSIVE MODE"))
                    locked.set()
                    await asyncio.to_thread(release.wait, 60)
                    await conn.rollback()
            finally:
                await engine.dispose()

        asyncio.run(run())

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(30), "the lock was not taken"
        yield
    finally:
        release.set()
        holder.join(60)


def test_a_deadline_cancels_a_request_waiting_inside_a_database_call(things_db: str, tmp_path: Path) -> None:
    key = str(uuid.uuid4())
    with service(things_db, tmp_path, REQUEST_TIMEOUT_SECONDS="1") as svc:
        assert httpx.get(f"{svc.url}/health/ready", timeout=30).status_code == 200  # the connections opened
        with writes_blocked(things_db):
            start = time.monotonic()
            refused = post_thing(svc.url, key)
            elapsed = time.monotonic() - start
            # answered at the 1 s deadline, not when the driver call gives up (SQLite's 30 s busy wait; the lock
            # is held until this block ends): a bound far from both
            assert refused.status_code == 503, refused.text
            assert "deadline" in refused.json()["detail"]
            assert elapsed < 15, elapsed
        wait_for(lambda: key_state(things_db, key) is None, within=30, what="the key freed once the lock went")
        assert things(things_db) == 0
        assert post_thing(svc.url, key).status_code == 201
    assert things(things_db) == 1


def test_a_commit_under_way_at_the_deadline_is_waited_for_and_answered_as_it_went(
    postgres_url: str, tmp_path: Path
) -> None:
    with temporary_database(postgres_url, prefix="resil") as url:
        create_tables(url, THINGS)
        # every COMMIT that wrote a thing takes 10 s: a deferred constraint trigger runs at COMMIT
        sql(
            url,
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(10); RETURN NULL; END $$",
        )
        sql(
            url,
            "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON things DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION slow_commit()",
        )
        key = str(uuid.uuid4())
        # The request reaches its COMMIT well within its 4 s deadline however loaded the machine (its connections
        # opened first), and the COMMIT goes on for 6 s past it: a deadline under way, whatever the timing.
        with service(url, tmp_path, REQUEST_TIMEOUT_SECONDS="4") as svc:
            assert httpx.get(f"{svc.url}/health/ready", timeout=30).status_code == 200
            answer = post_thing(svc.url, key)
            # not cancelled midway through its COMMIT (which may land anyway): told what happened, late
            assert answer.status_code == 201, answer.text
            assert things(url) == 1
            replay = post_thing(svc.url, key)
            assert replay.headers["Idempotent-Replayed"] == "true"
            assert replay.json() == answer.json()


def test_work_that_ignores_its_cancel_is_answered_at_the_deadline_and_keeps_its_slot(tmp_path: Path) -> None:
    url = create_tables(f"sqlite+aiosqlite:///{tmp_path / 'things.db'}", THINGS)
    env = {"REQUEST_TIMEOUT_SECONDS": "1", "MAX_IN_FLIGHT_REQUESTS": "1"}
    with ThreadPoolExecutor(1) as pool, service(url, tmp_path, **env) as svc:
        # ends within the 0.25 s grace after its cancel: its own answer, not an error. It ends 0.02 s past the
        # deadline on the event loop's clock, timed from the deadline itself: however late a loaded machine starts
        # the work, its end comes before the grace's (both are timers of one loop, fired in order)
        quick = httpx.get(f"{svc.url}/stubborn", params={"past_deadline": 0.02}, timeout=30)
        assert quick.status_code == 200, quick.text
        start = time.monotonic()
        stuck = pool.submit(httpx.get, f"{svc.url}/stubborn", params={"seconds": 15}, timeout=60)
        answer = stuck.result(timeout=60)
        assert answer.status_code == 503
        # at the 1 s deadline, not when the 15 s of work end: a bound far from both
        assert time.monotonic() - start < 10
        # its work goes on: the one slot is still taken
        busy = httpx.get(f"{svc.url}/slow", params={"seconds": 0}, timeout=30)
        assert busy.status_code == 503
        assert "in flight" in busy.json()["detail"]
        wait_for(
            lambda: any(r["event"] == "http.finished_after_deadline" for r in svc.records()),
            within=60,
            what="the stuck work ended",
        )
        wait_for(
            lambda: httpx.get(f"{svc.url}/slow", params={"seconds": 0}, timeout=30).status_code == 200,
            within=60,
            what="the slot back",
        )


def test_event_streams_are_capped_apart_from_requests_in_flight(tmp_path: Path) -> None:
    url = create_tables(f"sqlite+aiosqlite:///{tmp_path / 'things.db'}", THINGS)

    async def streams(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            async with client.stream("GET", "/events") as one, client.stream("GET", "/events") as two:
                assert one.status_code == two.status_code == 200
                third = await client.get("/events")
                assert third.status_code == 503
                assert third.headers["Retry-After"] == "1"
                assert "event streams" in third.json()["detail"]
                # plain requests are not held up by the open streams
                assert (await client.get("/slow", params={"seconds": 0})).status_code == 200
            deadline = asyncio.get_running_loop().time() + 60
            while asyncio.get_running_loop().time() < deadline:  # the streams closed: room again
                async with client.stream("GET", "/events") as again:
                    if again.status_code == 200:
                        return
                await asyncio.sleep(0.1)
            raise AssertionError("no stream allowed after the others closed")

    with service(url, tmp_path, MAX_EVENT_STREAMS="2", MAX_IN_FLIGHT_REQUESTS="2") as svc:
        asyncio.run(streams(svc.url))


def test_the_lease_must_outlast_the_request_deadline() -> None:
    with pytest.raises(ValueError, match="IDEMPOTENCY_LEASE_SECONDS"):
        ServiceSettings(request_timeout_seconds=10, idempotency_lease_seconds=5)
    assert ServiceSettings(request_timeout_seconds=10).idempotency_lease() == 12
    assert ServiceSettings(request_timeout_seconds=3, idempotency_lease_seconds=4).idempotency_lease() == 4


def test_a_burst_beyond_the_bound_is_shed_at_once_and_every_5xx_is_logged(tmp_path: Path) -> None:
    url = create_tables(f"sqlite+aiosqlite:///{tmp_path / 'things.db'}", THINGS)

    async def burst(base: str) -> list[tuple[str, httpx.Response, float]]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:

            async def one(n: int) -> tuple[str, httpx.Response, float]:
                cid = f"burst-{n}-{uuid.uuid4().hex[:8]}"
                start = time.monotonic()
                answer = await client.get("/slow", params={"seconds": 10}, headers={"X-Correlation-ID": cid})
                return cid, answer, time.monotonic() - start

            async def probe() -> int:
                await asyncio.sleep(0.3)
                return (await client.get("/health/live")).status_code

            results = await asyncio.gather(*(one(n) for n in range(20)), probe())
            assert results[-1] == 200  # probes are never shed
            return list(results[:-1])  # type: ignore[arg-type]

    # The served requests take 10 s: however a loaded machine spreads the burst, the shed ones come long before
    # (and no served one ends in time to free a slot for a late one).
    with service(url, tmp_path, MAX_IN_FLIGHT_REQUESTS="4", REQUEST_TIMEOUT_SECONDS="30") as svc:
        results = asyncio.run(burst(svc.url))
        crash = httpx.get(f"{svc.url}/boom", headers={"X-Correlation-ID": "the-crash"}, timeout=30)
        assert crash.status_code == 500
        served = [r for r in results if r[1].status_code == 200]
        shed = [r for r in results if r[1].status_code == 503]
        assert 1 <= len(served) <= 4
        assert len(served) + len(shed) == 20
        for _cid, answer, elapsed in shed:
            assert answer.headers["Retry-After"] == "1"
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert elapsed < 6  # refused at once, not after the 10 s the served ones took

        def logged() -> bool:
            errors = {
                (r["correlation_id"], r["level"], r["status"])
                for r in svc.records()
                if r["event"] == "http.server_error"
            }
            return {(cid, "WARNING", 503) for cid, _, _ in shed} | {("the-crash", "ERROR", 500)} <= errors

        wait_for(logged, within=60, what="every 5xx logged with its correlation id")


class GatewaySettingsForThings(GatewaySettings):
    things_url: str = ""


def served(svc: Service, cid: str) -> int | None:
    """The status the service logged for the request with this correlation id (None: not finished yet)."""
    for record in svc.records():
        if record.get("correlation_id") == cid and record["event"] in ("http.request", "http.server_error"):
            return int(record["status"])
    return None


def test_the_service_is_told_the_time_left_after_the_wait_for_a_gateway_connection(tmp_path: Path) -> None:
    url = create_tables(f"sqlite+aiosqlite:///{tmp_path / 'things.db'}", THINGS)
    hold = tmp_path / "hold"
    # Past the time the service is told once the wait for the connection is counted (6 s less at least 3 s less
    # the half-second margin: at most 2.5 s), within the time it would be told without that wait (5.5 s).
    hold.write_text("after 4")
    started = tmp_path / "slow-started"
    routes = [Route("POST", "/things", "things", timeout=6), Route("GET", "/slow", "things", timeout=30)]
    with service(url, tmp_path, RESIL_HOLD_FILE=str(hold), REQUEST_TIMEOUT_SECONDS="30") as svc:
        settings = GatewaySettingsForThings(
            things_url=svc.url,
            upstream_max_connections=1,
            rate_limit_requests=1000,
            ready_checks_upstreams=False,
            dev_mode=True,
        )
        with serve_app(create_gateway_app(settings, routes)) as gateway:

            async def run() -> httpx.Response:
                async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
                    slow = asyncio.create_task(client.get("/slow", params={"seconds": 4, "mark": str(started)}))
                    # the slow read holds the gateway's one connection to the service once it has reached it
                    loop = asyncio.get_running_loop()
                    deadline = loop.time() + 30
                    while not started.exists():
                        assert loop.time() < deadline, "the slow read never reached the service"
                        await asyncio.sleep(0.02)
                    answer = await client.post(
                        "/things",
                        json={"name": "late"},
                        headers={"Idempotency-Key": str(uuid.uuid4()), "X-Correlation-ID": "gw-pooled"},
                    )
                    assert (await slow).status_code == 200
                    return answer

            told = asyncio.run(run())
            assert told.status_code in (503, 504)
            # the service got the time left after the wait, not the route's full time: it gave up in time
            wait_for(lambda: served(svc, "gw-pooled") is not None, within=60, what="the service finished the request")
            assert served(svc, "gw-pooled") == 503
            assert things(url) == 0


def test_slow_senders_hold_no_gateway_slot_and_the_gateway_has_a_deadline(tmp_path: Path) -> None:
    url = create_tables(f"sqlite+aiosqlite:///{tmp_path / 'things.db'}", THINGS)
    routes = [Route("POST", "/things", "things"), Route("GET", "/slow", "things", timeout=5.0)]
    with service(url, tmp_path) as svc:
        settings = GatewaySettingsForThings(
            things_url=svc.url,
            max_in_flight_requests=3,
            body_timeout=2.0,
            dev_mode=True,
            rate_limit_requests=1000,
            ready_checks_upstreams=False,
        )
        # The slow senders and everyone else, before a gateway of its own with a 1 s deadline below: with that
        # deadline here, a loaded machine taking a second to create a thing would turn a 201 into a 503.
        with serve_app(create_gateway_app(settings, routes)) as gateway:
            host, port = gateway.split("//")[1].split(":")
            sockets = []
            for _ in range(3):  # each promises 100 bytes of body and sends one
                sock = socket.create_connection((host, int(port)), timeout=30)
                sock.sendall(
                    b"POST /things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{"
                )
                sockets.append(sock)
            try:
                # everyone else is served meanwhile
                for n in range(3):
                    answer = httpx.post(
                        f"{gateway}/things",
                        json={"name": f"n{n}"},
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                        timeout=30,
                    )
                    assert answer.status_code == 201, answer.text
                # and the slow senders are told 408 once the body timeout has passed
                for sock in sockets:
                    head = sock.recv(4096)
                    assert head.startswith(b"HTTP/1.1 408"), head[:200]
            finally:
                for sock in sockets:
                    sock.close()
        with serve_app(create_gateway_app(settings.model_copy(update={"request_deadline": 1.0}), routes)) as gateway:
            # an answer that does not start within the gateway's own deadline: 503, at the deadline
            start = time.monotonic()
            late = httpx.get(f"{gateway}/slow", params={"seconds": 3}, timeout=30)
            # the gateway's own 1 s deadline said so (the route's 5 s timeout would be a 504, the service's answer
            # at 3 s a 200); the bound only guards against a hang, far from a loaded machine's timing
            assert late.status_code == 503
            assert "deadline of 1s" in late.json()["detail"], late.text
            assert time.monotonic() - start < 10


def test_the_gateway_sheds_too_and_a_refused_client_never_gets_its_thing_later(tmp_path: Path, capsys: Any) -> None:
    url = create_tables(f"sqlite+aiosqlite:///{tmp_path / 'things.db'}", THINGS)
    hold = tmp_path / "hold"
    hold.write_text("after 1.5")  # past the gateway's 1 s, well within the service's own 30 s
    routes = [Route("POST", "/things", "things", timeout=1.0), Route("GET", "/slow", "things", timeout=30)]
    with service(url, tmp_path, RESIL_HOLD_FILE=str(hold), REQUEST_TIMEOUT_SECONDS="30") as svc:
        settings = GatewaySettingsForThings(
            things_url=svc.url,
            max_in_flight_requests=3,
            rate_limit_requests=1000,
            ready_checks_upstreams=False,
            dev_mode=True,
        )
        with serve_app(create_gateway_app(settings, routes)) as gateway:
            refused = httpx.post(
                f"{gateway}/things",
                json={"name": "late"},
                headers={"Idempotency-Key": "k1", "X-Correlation-ID": "gw-late"},
                timeout=30,
            )
            assert refused.status_code in (503, 504)
            # the service heeded X-Request-Timeout-Ms: it gave up before the gateway's 1 s and rolled back
            wait_for(lambda: served(svc, "gw-late") is not None, within=60, what="the service finished the request")
            assert served(svc, "gw-late") == 503
            assert things(url) == 0

            async def burst() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
                    return await asyncio.gather(
                        *(
                            client.get("/slow", params={"seconds": 4}, headers={"X-Correlation-ID": f"gw-{n}"})
                            for n in range(10)
                        )
                    )

            answers = asyncio.run(burst())
        codes = sorted(a.status_code for a in answers)
        assert codes.count(200) <= 3
        assert codes.count(503) >= 7
        assert all(a.headers["Retry-After"] == "1" for a in answers if a.status_code == 503)
    shed_ids = {a.headers["X-Correlation-ID"] for a in answers if a.status_code == 503}
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    warned = {r["correlation_id"] for r in logged if r["event"] == "http.server_error" and r["level"] == "WARNING"}
    assert shed_ids <= warned
    assert things(url) == 0


# ------------------------------------------------------------------------------- readiness and gauges


def bus_database(path: Path) -> str:
    url = f"sqlite+aiosqlite:///{path}"

    async def create() -> None:
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.run_sync(BusBase.metadata.create_all)
        await db.dispose()

    asyncio.run(create())
    return url


class OwnNats:
    """A nats-server with JetStream on `port`, its data under `store`: stopped and started again as the test says."""

    def __init__(self, port: int, store: Path) -> None:
        self.port = port
        self.store = store
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_for(listening, within=60, what="nats-server listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def pause(self, paused: bool) -> None:
        """SIGSTOP / SIGCONT: the server hangs, its connections open (no FIN, no RST), as a stuck broker does."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP if paused else signal.SIGCONT)


def gauge(metrics: str, name: str, service_name: str) -> float | None:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("service") == service_name:
                return float(sample.value)
    return None


def publishing_app(tmp_path: Path) -> tuple[str, EventType[Ping], str, int, FastAPI]:
    """A service publishing one event, on a database of its own, for a nats-server on a port of its own."""
    name = f"resil-{uuid.uuid4().hex[:8]}"
    event = ping_event(f"resil.{uuid.uuid4().hex[:8]}.pinged")
    url = bus_database(tmp_path / "bus.db")
    port = free_port()
    settings = ServiceSettings(service_name=name, database_url=url, broker_url=f"nats://127.0.0.1:{port}")
    config = MessagingConfig(
        system=name.replace("-", "_"),
        default_broker="nats",
        topics=[event.topic],
        outbox=Outbox,
        partitions=Partition,
        published=[event],
    )
    app = create_service_app(title=name, version="1", description="", settings=settings, routers=[], messaging=config)
    return name, event, url, port, app


def test_readiness_follows_the_broker_and_the_outbox_gauges_stay_current(tmp_path: Path) -> None:
    name, event, url, port, app = publishing_app(tmp_path)
    store = tmp_path / "nats"

    def ready(base: str) -> bool:
        return httpx.get(f"{base}/health/ready", timeout=10).status_code == 200

    def pending(base: str) -> tuple[float, float]:
        text = httpx.get(f"{base}/metrics", timeout=10).text
        return (
            gauge(text, "msgen_outbox_pending", name) or 0.0,
            gauge(text, "msgen_outbox_oldest_age_seconds", name) or 0.0,
        )

    nats = OwnNats(port, store)
    nats.start()
    try:
        with serve_app(app) as base:
            wait_for(lambda: ready(base), within=30, what="ready with the broker up")
            nats.stop()  # the broker goes away
            lost = wait_for(lambda: not ready(base), within=30, what="not ready without the broker")
            assert lost < 10  # noticed in about a second: a bound a loaded machine cannot reach
            body = httpx.get(f"{base}/health/ready", timeout=10).json()
            assert body["checks"] == {"database": "ok", "broker": "failing"}

            async def stage_three() -> None:
                db = Database(url)
                async with db.sessions() as session:
                    for n in range(3):
                        message_id = str(uuid.uuid4())
                        payload = Ping(ping_id=uuid.uuid4(), n=n)
                        key = event.key_of(payload)
                        session.add(
                            Outbox(
                                message_id=message_id,
                                topic=event.topic,
                                event=event.name,
                                version=1,
                                key=key,
                                partition=partition_of(key, message_id),
                                body=event.encode(payload),
                                headers=message_headers(event, message_id, key),
                                created_at=utcnow(),
                                attempts=0,
                            )
                        )
                    await session.commit()
                await db.dispose()

            asyncio.run(stage_three())
            wait_for(lambda: pending(base)[0] >= 3, within=60, what="the pending gauge during the outage")
            wait_for(lambda: pending(base)[1] > 0.5, within=60, what="the oldest-age gauge growing during the outage")
            assert not ready(base)

            nats.start()  # the broker is back, same address and data
            wait_for(lambda: ready(base), within=30, what="ready again once the broker is back")
            wait_for(lambda: pending(base) == (0.0, 0.0), within=30, what="the outbox drained after the outage")
    finally:
        nats.stop()


def test_readiness_notices_a_broker_that_hangs_without_closing_its_connections(tmp_path: Path) -> None:
    _, _, _, port, app = publishing_app(tmp_path)

    def ready(base: str) -> bool:
        return httpx.get(f"{base}/health/ready", timeout=10).status_code == 200

    nats = OwnNats(port, tmp_path / "nats")
    nats.start()
    try:
        with serve_app(app) as base:
            wait_for(lambda: ready(base), within=30, what="ready with the broker up")
            nats.pause(True)
            lost = wait_for(lambda: not ready(base), within=60, what="not ready while the broker hangs")
            # about 2 s: two PINGs unanswered, then the readiness cache; the NATS client's own PINGs (every two
            # minutes) would take minutes: a bound far from both
            assert lost < 20, lost
            assert httpx.get(f"{base}/health/ready", timeout=10).json()["checks"]["broker"] == "failing"
            nats.pause(False)
            wait_for(lambda: ready(base), within=30, what="ready again once the broker answers")
    finally:
        nats.stop()


@pytest.mark.anyio
async def test_a_rabbitmq_connection_is_alive_only_while_it_answers(rabbitmq_url: str) -> None:
    broker = RabbitMQ(rabbitmq_url, exchange=f"resil-{uuid.uuid4().hex[:8]}")
    assert not await broker.alive(0.5)  # never connected
    await broker.start()
    try:
        # a generous limit for the round trip to a shared, perhaps loaded, server: alive is what is asked here,
        # not how fast (a broker that does not answer reads as down whatever the limit)
        assert await broker.alive(30)
    finally:
        await broker.stop()
    assert not await broker.alive(0.5)


# -------------------------------------------------------------------------------------------- dead letters


@pytest.mark.anyio
async def test_a_dead_letter_that_fails_again_on_replay_stays_one_dead_letter(tmp_path: Path) -> None:
    event = ping_event(f"resil.{uuid.uuid4().hex[:8]}.pinged")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'dlq.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(BusBase.metadata.create_all)
    failures = 0
    healed = False

    async def handler(session: AsyncSession, payload: Any) -> None:
        nonlocal failures
        if not healed:
            failures += 1
            raise RuntimeError(f"failure {failures}")

    stream = f"resil_dlq_{uuid.uuid4().hex[:8]}"
    with nats_server(str(tmp_path / "nats")) as url:
        broker = NatsJetStream(url, stream=stream, topics=[event.topic])
        consumer = Consumer(
            service="resil",
            sessions=db.sessions,
            inbox=Inbox,
            dead_letters=Dead,
            broker=broker,
            subscriptions=[Subscription(event, handler)],
            attempts=2,
            backoff=0,
        )
        await broker.start()
        try:
            payload = Ping(ping_id=uuid.uuid4(), n=1)
            headers = message_headers(event, str(uuid.uuid4()), event.key_of(payload))
            assert await consumer.receive(event.topic, event.encode(payload), headers) == "dead-lettered"

            async def letters() -> list[Dead]:
                async with db.sessions() as session:
                    return list(await session.scalars(sa.select(Dead)))

            async def dlq_messages() -> int:
                js = broker.broker.config.connection_state.stream
                info = await js.stream_info(stream, subjects_filter=f"{event.topic}.dlq")
                return sum((info.state.subjects or {}).values())

            [letter] = await letters()
            assert await dlq_messages() == 1
            for _ in range(2):
                assert await consumer.replay(letter.id) == "dead-lettered"
            [again] = await letters()
            assert again.id == letter.id
            assert again.attempts == 6
            assert again.error == "RuntimeError: failure 6"
            assert again.replayed_at is None
            assert await dlq_messages() == 1  # no further copy on the dead-letter topic

            healed = True
            assert await consumer.replay(letter.id) == "processed"
            [done] = await letters()
            assert done.replayed_at is not None
        finally:
            await broker.stop()
            await db.dispose()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
