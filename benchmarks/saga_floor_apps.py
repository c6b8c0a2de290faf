"""The processes of benchmarks/saga_floor.py: what one order needs on msgen's stack, and nothing more.

One module, one role per process (`FLOOR_ROLE`), each an ASGI app run by uvicorn as the shop's are:

- gateway: checks the bearer token against the one it was given (a verified token cached, as the shop's
  gateway caches one), forwards the request to the order service with aiohttp and relays the answer;
  a plain ASGI app, no framework;
- user: FastAPI, GET /v1/users/{id} reads one row;
- order: FastAPI, POST /v1/orders validates the body (pydantic), asks the user service for the user,
  writes the order and its `order.created` outbox row in one transaction, publishes it after the commit
  and answers 201 once the saga has ended (the `Prefer: wait` of the shop); consumes `payment.authorized`
  (the order PAID) and `inventory.reserved` (CONFIRMED, `order.confirmed` written and published);
- payment: consumes `order.created` (a payment row, `payment.authorized` written and published);
- inventory: consumes `order.created` (a PENDING reservation) and `payment.authorized` (RESERVED,
  `inventory.reserved` written and published);
- notification: consumes `order.confirmed` (a notification row).

Every message is delivered by a durable JetStream consumer and acknowledged after its transaction, which
also writes its id into an inbox (a redelivery does nothing twice); the messages a push consumer delivered
together are handled in one transaction; an outbox row is published as soon as its transaction commits
and marked published in the next one; publishes wait for JetStream's ack concurrently. Each service has
its own SQLite file (WAL, synchronous=NORMAL, as msgen's runtime sets them) or PostgreSQL database,
through SQLAlchemy Core.

What the shop does and this does not: logs, metrics, traces, correlation ids, the internal credential,
admission, idempotency keys, problem+json, a saga state table, a status log, timeouts and compensations,
codecs with schemas, the product check (the shop caches it), JWT verification per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import nats
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException
from nats.js import JetStreamContext
from pydantic import BaseModel, Field
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

ROLE = os.environ["FLOOR_ROLE"]
STREAM = "FLOOR"
PREFIX = "floor."
USER_ID = uuid.UUID(os.environ.get("FLOOR_USER_ID", "00000000-0000-4000-8000-000000000001"))

metadata = sa.MetaData()
inbox = sa.Table("inbox", metadata, sa.Column("id", sa.String(64), primary_key=True))
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("subject", sa.String(100)),
    sa.Column("body", sa.Text),
    sa.Column("published", sa.Boolean, default=False, index=True),
)
users = sa.Table("users", metadata, sa.Column("id", sa.Uuid, primary_key=True), sa.Column("email", sa.String(200)))
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid),
    sa.Column("email", sa.String(200)),
    sa.Column("lines", sa.JSON),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("status", sa.String(20)),
)
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("order_id", sa.String(36), primary_key=True),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("status", sa.String(20)),
)
reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("order_id", sa.String(36), primary_key=True),
    sa.Column("lines", sa.JSON),
    sa.Column("status", sa.String(20)),
)
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("order_id", sa.String(36)),
    sa.Column("recipient", sa.String(200)),
)


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


URL = os.environ.get("DATABASE_URL", "")
SQLITE = URL.startswith("sqlite")
insert = sqlite.insert if SQLITE else postgresql.insert  # both with ON CONFLICT DO NOTHING


def open_engine() -> AsyncEngine:
    if not SQLITE:  # the pool the bare app has
        return create_async_engine(URL)
    engine = create_async_engine(URL, pool_size=1, max_overflow=0)  # one writer, as msgen's runtime
    event.listen(engine.sync_engine, "connect", _pragmas)
    return engine


# A message handler: (connection, event) -> the events to publish, as (subject, payload) pairs.
Effect = Callable[[AsyncConnection, dict[str, Any]], Awaitable[list[tuple[str, dict[str, Any]]]]]
_after_commit: contextvars.ContextVar[list[Callable[[], None]]] = contextvars.ContextVar("after_commit")


def on_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the transaction running now has committed."""
    _after_commit.get().append(callback)


class Bus:
    """JetStream publishes after commit, durable push consumers handled a delivery at a time, in one
    transaction with their inbox rows, their effects and the outbox rows they write."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.nc: nats.NATS | None = None
        self.js: JetStreamContext | None = None
        self.to_mark: list[str] = []  # outbox rows published, marked by the next transaction
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.nc = await nats.connect(os.environ["NATS_URL"])
        self.js = self.nc.jetstream()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.nc is not None:
            await self.nc.drain()

    async def transaction(self, work: Callable[[AsyncConnection], Awaitable[list[tuple[str, dict[str, Any]]]]]) -> None:
        """Run `work`, write the events it returns into the outbox, commit, then publish them."""
        rows: list[dict[str, Any]] = []
        after: list[Callable[[], None]] = []
        _after_commit.set(after)
        async with self.engine.begin() as conn:
            if self.to_mark:
                marked, self.to_mark = self.to_mark, []
                await conn.execute(outbox.update().where(outbox.c.id.in_(marked)).values(published=True))
            for subject, payload in await work(conn):
                rows.append({"id": str(uuid.uuid4()), "subject": PREFIX + subject, "body": json.dumps(payload)})
            if rows:
                await conn.execute(outbox.insert(), rows)
        for callback in after:
            callback()
        if rows:
            assert self.js is not None
            await asyncio.gather(*(self.js.publish(r["subject"], r["body"].encode()) for r in rows))
            self.to_mark.extend(r["id"] for r in rows)

    def consume(self, subject: str, effect: Effect) -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def work(batch: list[Any], conn: AsyncConnection) -> list[tuple[str, dict[str, Any]]]:
            out: list[tuple[str, dict[str, Any]]] = []
            for msg in batch:
                seen = insert(inbox).values(id=f"{subject}:{msg.metadata.sequence.stream}")
                if (await conn.execute(seen.on_conflict_do_nothing())).rowcount:
                    out += await effect(conn, json.loads(msg.data))
            return out

        async def handle_all() -> None:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                await self.transaction(functools.partial(work, batch))
                for msg in batch:
                    await msg.ack()

        async def start() -> None:
            assert self.js is not None
            await self.js.subscribe(
                PREFIX + subject,
                durable=f"{ROLE}-{subject.replace('.', '-')}",
                cb=queue.put,
                manual_ack=True,
                pending_msgs_limit=-1,
            )
            await handle_all()

        self.tasks.append(asyncio.create_task(start()))


def participant(consumers: dict[str, Effect], routes: Callable[[FastAPI, Bus], None] | None = None) -> FastAPI:
    engine = open_engine()
    bus = Bus(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            if ROLE == "user":
                await conn.execute(insert(users).values(id=USER_ID, email="floor@example.com").on_conflict_do_nothing())
        await bus.start()
        for subject, effect in consumers.items():
            bus.consume(subject, effect)
        yield
        await bus.stop()
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    if routes is not None:
        routes(app, bus)
    return app


# ---- the participants


async def charge(conn: AsyncConnection, created: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    await conn.execute(
        payments.insert().values(order_id=created["order_id"], amount=created["amount"], status="AUTHORIZED")
    )
    return [("payment.authorized", {"order_id": created["order_id"], "amount": created["amount"]})]


async def hold(conn: AsyncConnection, created: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    await conn.execute(
        reservations.insert().values(order_id=created["order_id"], lines=created["lines"], status="PENDING")
    )
    return []


async def reserve(conn: AsyncConnection, paid: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    held = reservations.update().where(reservations.c.order_id == paid["order_id"], reservations.c.status == "PENDING")
    await conn.execute(held.values(status="RESERVED"))
    return [("inventory.reserved", {"order_id": paid["order_id"]})]


async def notify(conn: AsyncConnection, confirmed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    await conn.execute(
        notifications.insert().values(id=uuid.uuid4(), order_id=confirmed["order_id"], recipient=confirmed["email"])
    )
    return []


# ---- the order service


class Line(BaseModel):
    product_id: uuid.UUID
    quantity: int = Field(ge=1, le=1000)
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


class OrderIn(BaseModel):
    user_id: uuid.UUID
    email: str = Field(max_length=200)
    lines: list[Line] = Field(min_length=1)
    amount: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    currency: str = "EUR"


waiters: dict[str, asyncio.Future[str]] = {}


def set_status(status: str) -> Effect:
    async def effect(conn: AsyncConnection, message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        order_id = message["order_id"]
        await conn.execute(orders.update().where(orders.c.id == uuid.UUID(order_id)).values(status=status))
        if status != "CONFIRMED":
            return []
        waiter = waiters.get(order_id)
        if waiter is not None:
            on_commit(lambda: waiter.done() or waiter.set_result(status))
        row = (await conn.execute(sa.select(orders.c.email).where(orders.c.id == uuid.UUID(order_id)))).one()
        return [("order.confirmed", {"order_id": order_id, "email": row.email})]

    return effect


def order_routes(app: FastAPI, bus: Bus) -> None:
    http: dict[str, aiohttp.ClientSession] = {}
    user_url = os.environ["FLOOR_USER_URL"]

    @app.post("/v1/orders", status_code=201)
    async def place(body: OrderIn) -> dict[str, Any]:
        if "client" not in http:
            http["client"] = aiohttp.ClientSession()
        async with http["client"].get(f"{user_url}/v1/users/{body.user_id}") as answer:
            await answer.read()
            if answer.status == 404:
                raise HTTPException(422, "no such user")
            if answer.status != 200:
                raise HTTPException(503, "the user service did not answer")
        order_id = uuid.uuid4()
        done = asyncio.get_running_loop().create_future()
        waiters[str(order_id)] = done
        lines = [line.model_dump(mode="json") for line in body.lines]

        async def write(conn: AsyncConnection) -> list[tuple[str, dict[str, Any]]]:
            await conn.execute(
                orders.insert().values(
                    id=order_id,
                    user_id=body.user_id,
                    email=body.email,
                    lines=lines,
                    amount=body.amount,
                    status="PENDING_PAYMENT",
                )
            )
            created = {
                "order_id": str(order_id),
                "user_id": str(body.user_id),
                "email": body.email,
                "amount": str(body.amount),
                "currency": body.currency,
                "lines": lines,
            }
            return [("order.created", created)]

        try:
            await bus.transaction(write)
            status = await asyncio.wait_for(done, 10)
        finally:
            waiters.pop(str(order_id), None)
        return {"id": str(order_id), "status": status, "amount": str(body.amount), "lines": lines}


def user_routes(app: FastAPI, bus: Bus) -> None:
    @app.get("/v1/users/{ident}")
    async def get_user(ident: uuid.UUID) -> dict[str, str]:
        async with bus.engine.connect() as conn:
            row = (await conn.execute(sa.select(users).where(users.c.id == ident))).first()
        if row is None:
            raise HTTPException(404)
        return {"id": str(row.id), "email": row.email}


# ---- the gateway


def gateway() -> Callable[..., Awaitable[None]]:
    upstream = os.environ["FLOOR_ORDER_URL"]
    token = f"Bearer {os.environ['FLOOR_TOKEN']}".encode()
    http: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    http["client"] = aiohttp.ClientSession(auto_decompress=False)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await http["client"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = dict(scope["headers"])
        if scope["path"] == "/health/ready":
            status, out, payload = 200, [], b"{}"
        elif headers.get(b"authorization") != token:
            status, out, payload = 401, [], b""
        else:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            forward = {k.decode(): v.decode() for k, v in headers.items() if k in (b"content-type", b"prefer")}
            async with http["client"].request(
                scope["method"], upstream + scope["path"], data=body, headers=forward
            ) as answer:
                payload = await answer.read()
                status = answer.status
                out = [(b"content-type", answer.headers.get("content-type", "").encode())]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    return app


def build() -> Any:
    if ROLE == "gateway":
        return gateway()
    if ROLE == "user":
        return participant({}, user_routes)
    if ROLE == "order":
        return participant(
            {"payment.authorized": set_status("PAID"), "inventory.reserved": set_status("CONFIRMED")}, order_routes
        )
    if ROLE == "payment":
        return participant({"order.created": charge})
    if ROLE == "inventory":
        return participant({"order.created": hold, "payment.authorized": reserve})
    if ROLE == "notification":
        return participant({"order.confirmed": notify})
    raise SystemExit(f"unknown role {ROLE}")


app = build()
