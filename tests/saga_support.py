"""Running the generated shop for the saga tests: real processes, a nats-server of its own, real databases.

Shared by tests/test_e2e_saga.py and tests/test_saga_chaos.py: `running_shop()` writes a generated
shop, gives it databases of its own (SQLite files, or uniquely named PostgreSQL databases dropped
afterwards), starts a nats-server with its own store and the services as uvicorn processes, and ends
every one of them. `assert_books()` reads each service's database and checks the books of the Place
Order saga (see docs/events.md): every order final, money and stock following the orders.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiosmtpd.controller import Controller
from ruamel.yaml import YAML
from sqlalchemy.engine import make_url

from msgen.generate import Generated, generate
from msgen.localrun import LocalSystem, Options, free_port, plan, prepare_databases
from msgen.writer import write_project
from tests.conftest import SHOP_SPEC
from tests.processes import CALL_TIMEOUT_FLOOR, scaled

FINAL = ("CONFIRMED", "CANCELLED")
CENT = Decimal("0.01")


class Mailbox:
    """An SMTP handler keeping (recipient, subject) of every mail."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # the parser unfolds a long subject, which the sender wrapped over several header lines
        subject = str(email.message_from_bytes(envelope.content, policy=email.policy.default)["Subject"] or "")
        self.messages.extend((rcpt, subject) for rcpt in envelope.rcpt_tos)
        return "250 OK"


def shop_with_step_timeout(directory: Path, timeout: str) -> Generated:
    """The example shop generated from a copy of its spec whose saga steps all time out after `timeout`."""
    yaml = YAML()
    spec = yaml.load(SHOP_SPEC.read_text())
    for saga in spec["sagas"].values():
        for step in saga["steps"]:
            step["timeout"] = timeout
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / "shop.yaml"
    text = io.StringIO()
    yaml.dump(spec, text)
    copy.write_text(text.getvalue())
    return generate(copy)


@dataclass
class Shop:
    """A running shop and the databases behind it."""

    system: LocalSystem
    workdir: Path
    databases: dict[str, str]  # service -> its database URL, as the service was given it
    product_id: str = ""
    scarce_id: str = ""
    user_id: str = ""
    mailbox: Mailbox | None = None
    services: list[str] = field(default_factory=list)

    @property
    def orders(self) -> str:
        return self.system.url("order")

    def url(self, service: str) -> str:
        return self.system.url(service)

    def admin(self, service: str) -> dict[str, str]:
        """The admin token msgen up gives the services (the project's own, made on first use)."""
        return {"Authorization": f"Bearer {self.system.specs[service].env['ADMIN_TOKEN']}"}

    def rows(self, service: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """The rows of a query on a service's database (`?` placeholders on SQLite, `$1` on PostgreSQL)."""
        url = make_url(self.databases[service])
        if url.get_backend_name() == "sqlite":
            with sqlite3.connect(str(url.database), timeout=30) as db:
                return list(db.execute(query, args))

        async def fetch() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
            try:
                return [tuple(record) for record in await conn.fetch(query, *args)]
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def table_exists(self, service: str, table: str) -> bool:
        if make_url(self.databases[service]).get_backend_name() == "sqlite":
            found = self.rows(service, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", table)
        else:
            found = self.rows(service, "SELECT tablename FROM pg_tables WHERE tablename = $1", table)
        return bool(found)

    def restart_stopped(self) -> None:
        """Start again every process a test stopped or killed, and wait until all are ready."""
        for name, proc in self.system.procs.items():
            if proc.poll() is not None:
                self.system.start(name)
                if name == "nats":
                    self.system.wait_port(name, 60)
        self.system.wait_ready(list(self.system.specs), timeout=scaled(120))


@dataclass
class Prepared:
    """A shop written and migrated once: each run starts from copies of its databases."""

    generated: Generated
    root: Path
    postgres_url: str | None
    templates: dict[str, str]  # service -> the URL of its migrated database


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def prepared_shop(generated: Generated, base: Path, *, postgres_url: str | None = None) -> Iterator[Prepared]:
    """Write the shop under `base` and migrate a database per service (dropped at the end)."""
    root = base / "shop"
    write_project(root, generated.files, generated.system.spec_hash)
    options = Options(workdir=base / "templates", postgres_url=postgres_url)
    specs = [s for s in plan(root, options, generated.system) if "DATABASE_URL" in s.env]
    if postgres_url:
        token = uuid.uuid4().hex[:10]
        for spec in specs:
            spec.env["DATABASE_URL"] = _with_database(spec.env["DATABASE_URL"], f"chaos_{token}_{spec.name}_tmpl")
    templates = {s.name: s.env["DATABASE_URL"] for s in specs}
    try:
        prepare_databases(specs, options)
        yield Prepared(generated, root, postgres_url, templates)
    finally:
        if postgres_url:
            _drop_databases(postgres_url, [make_url(url).database or "" for url in templates.values()])


def _copy_databases(prepared: Prepared, specs: list[Any]) -> None:
    """Give each service of a run a fresh copy of its migrated database."""
    token = uuid.uuid4().hex[:10]
    statements = []
    for spec in specs:
        template = prepared.templates.get(spec.name)
        if template is None:
            continue
        source = make_url(template)
        if source.get_backend_name() == "sqlite":
            target = Path(str(make_url(spec.env["DATABASE_URL"]).database))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(str(source.database), target)
        else:
            name = f"chaos_{token}_{spec.name}"
            statements.append(f'CREATE DATABASE "{name}" TEMPLATE "{source.database}"')
            spec.env["DATABASE_URL"] = _with_database(template, name)
    if statements:
        assert prepared.postgres_url is not None
        _execute(prepared.postgres_url, statements)


@contextmanager
def running_shop(
    prepared: Prepared,
    base: Path,
    *,
    handlers: Mapping[str, str] | None = None,
    smtp: bool = False,
    stock: int = 100_000,
    without: Collection[str] = (),
) -> Iterator[Shop]:
    """Start the shop on fresh databases and a nats-server of its own, seed products with stock; end it all.

    `handlers`: files of the project (path -> text) replaced in a copy of it, for this run only.
    `without`: services not started (the products and the user are then made-up ids, with no stock; an order
    needs the user and product services, which say whether the ids it refers to exist).
    """
    root = prepared.root
    if handlers:
        root = base / "shop"
        shutil.copytree(prepared.root, root)
        for path, text in handlers.items():
            (root / path).write_text(text)
    workdir = base / "run"
    mailbox = Mailbox() if smtp else None
    controller = None
    smtp_address = None
    if mailbox is not None:
        smtp_address = ("127.0.0.1", free_port())
        controller = Controller(mailbox, hostname=smtp_address[0], port=smtp_address[1])
        controller.start()
    options = Options(
        workdir=workdir,
        postgres_url=prepared.postgres_url,
        smtp=smtp_address,
        log_level="WARNING",
        extra_env=CALL_TIMEOUT_FLOOR,
    )
    # the tests talk to the services straight: no gateway
    specs = [s for s in plan(root, options, prepared.generated.system) if s.name not in {"gateway", *without}]
    system = LocalSystem(specs, workdir / "logs")
    databases: dict[str, str] = {}
    try:
        _copy_databases(prepared, specs)
        databases = {s.name: s.env["DATABASE_URL"] for s in specs if "DATABASE_URL" in s.env}
        system.start_all(timeout=scaled(180))
        shop = Shop(
            system=system,
            workdir=workdir,
            databases=databases,
            mailbox=mailbox,
            services=[s.name for s in specs if s.ready_url],
        )
        if "product" in without or "inventory" in without:
            shop.product_id, shop.scarce_id = str(uuid.uuid4()), str(uuid.uuid4())
        else:
            teapot = {"sku": "TEAPOT-1", "name": "Teapot", "price": "19.90"}
            shop.product_id = _create(shop, "product", "/v1/products", teapot)
            _create(shop, "inventory", "/v1/stock-items", {"product_id": shop.product_id, "quantity": stock})
            vase = {"sku": "RARE-1", "name": "Rare vase", "price": "99.00"}
            shop.scarce_id = _create(shop, "product", "/v1/products", vase)
            _create(shop, "inventory", "/v1/stock-items", {"product_id": shop.scarce_id, "quantity": 1})
        if "user" in without:
            shop.user_id = str(uuid.uuid4())
        else:
            shop.user_id = _create(shop, "user", "/v1/users", {"email": "customer@shop.test", "full_name": "Customer"})
        yield shop
    finally:
        _stop_all(system)
        if controller is not None:
            controller.stop()
        if prepared.postgres_url:
            _drop_databases(prepared.postgres_url, [make_url(url).database or "" for url in databases.values()])
        shutil.rmtree(workdir / "nats", ignore_errors=True)


def _stop_all(system: LocalSystem, grace: float = 15) -> None:
    """SIGTERM to every service at once, SIGKILL to those still running after `grace` seconds; then the broker."""
    services = [p for name, p in system.procs.items() if name != "nats" and p.poll() is None]
    for proc in services:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in services:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    system.stop("nats")


def _create(shop: Shop, service: str, path: str, body: dict[str, Any]) -> str:
    answer = httpx.post(f"{shop.url(service)}{path}", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _execute(server: str, statements: list[str]) -> None:
    async def execute() -> None:
        conn = await asyncpg.connect(
            make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(execute())


def _drop_databases(server: str, names: list[str]) -> None:
    _execute(server, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names if name])


# -- clients -----------------------------------------------------------------------


def order_body(shop: Shop, *, amount: str = "39.80", quantity: int = 2, product: str | None = None) -> dict[str, Any]:
    return {
        "user_id": shop.user_id,
        "email": f"customer-{uuid.uuid4().hex[:8]}@shop.test",
        "lines": [{"product_id": product or shop.product_id, "quantity": quantity, "unit_price": "19.90"}],
        "amount": amount,
        "currency": "EUR",
    }


RETRIED = (409, 429, 503, 504)  # in flight elsewhere, shed, or timed out: the same key again is safe


async def place(
    client: httpx.AsyncClient,
    shop: Shop,
    body: dict[str, Any],
    *,
    key: str | None = None,
    timeout: float = 180,
    answers: list[int] | None = None,
) -> str:
    """POST with an Idempotency-Key, retried with the same key until the order service accepts the order.

    The service may be restarting, shedding load, or still holding the key of an attempt that died.
    `answers` collects every status code seen.
    """
    key = key or str(uuid.uuid4())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled(timeout)
    last = "no answer"
    while loop.time() < deadline:
        pause = 0.1
        try:
            answer = await client.post(f"{shop.orders}/v1/orders", json=body, headers={"Idempotency-Key": key})
            if answers is not None:
                answers.append(answer.status_code)
            if answer.status_code == 202:
                assert answer.headers["location"].endswith(answer.json()["id"])
                return str(answer.json()["id"])
            assert answer.status_code in RETRIED, answer.text
            last = f"{answer.status_code} {answer.text[:200]}"
            retry_after = answer.headers.get("retry-after", "")
            if retry_after.isdigit():
                pause = min(float(retry_after), 1.0)
        except httpx.TransportError as exc:
            last = repr(exc)
        await asyncio.sleep(pause)
    raise AssertionError(f"the order service never accepted the order with key {key}: {last}")


async def final_status(client: httpx.AsyncClient, shop: Shop, ident: str, timeout: float = 60) -> str:
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while asyncio.get_running_loop().time() < deadline:
        try:
            status = (await client.get(f"{shop.orders}/v1/orders/{ident}")).json()["status"]
            if status in FINAL:
                return str(status)
        except (httpx.TransportError, KeyError):
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {ident} did not reach a final status")


# -- the books ---------------------------------------------------------------------


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def as_money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _unfinished(shop: Shop, orchestrator: str = "order") -> list[str]:
    """What keeps the system from being settled: unsent outbox rows, undelivered messages, open sagas."""
    pending: list[str] = []
    for service in shop.services:
        if shop.table_exists(service, "outbox"):
            (count,) = shop.rows(service, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0]
            if count:
                pending.append(f"{service}: {count} outbox rows unsent")
    if shop.table_exists(orchestrator, "saga_states"):
        open_sagas = shop.rows(orchestrator, "SELECT status, count(*) FROM saga_states GROUP BY status")
        pending += [f"{orchestrator}: {n} sagas {s}" for s, n in open_sagas if s in ("RUNNING", "COMPENSATING")]
    pending += asyncio.run(_undelivered(shop.system.specs[orchestrator].env["BROKER_URL"]))
    return pending


async def _undelivered(broker_url: str) -> list[str]:
    import nats

    connection = await nats.connect(broker_url, connect_timeout=10, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        js = connection.jetstream()
        pending = []
        for stream in await js.streams_info():
            assert stream.config.name is not None
            for consumer in await js.consumers_info(stream.config.name):
                waiting = (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
                if waiting:
                    pending.append(f"consumer {consumer.name}: {waiting} messages not yet handled")
        return pending
    finally:
        await connection.close()


def wait_settled(shop: Shop, timeout: float = 180, orchestrator: str = "order") -> None:
    """Wait until every outbox is sent, every message handled and every saga final (of `orchestrator`)."""
    deadline = time.monotonic() + scaled(timeout)
    pending: list[str] = []
    settled_since: float | None = None
    while time.monotonic() < deadline:
        try:
            pending = _unfinished(shop, orchestrator)
        except (OSError, asyncpg.PostgresError, sqlite3.Error) as exc:
            pending = [repr(exc)]
        if pending:
            settled_since = None
        elif settled_since is None:
            settled_since = time.monotonic()
        elif time.monotonic() - settled_since > 1.0:
            # settled on two reads a second apart: a late reply in a handler's hands has shown up by now
            return
        time.sleep(0.2)
    raise AssertionError(f"not settled after {timeout:.0f}s: {pending}")


@dataclass
class Books:
    """What the databases say, per order."""

    orders: dict[uuid.UUID, tuple[str, Decimal]]  # id -> (status, amount)
    sagas: dict[uuid.UUID, str]
    payments: dict[uuid.UUID, list[tuple[str, Decimal]]]  # order id -> [(status, amount)]
    reservations: dict[uuid.UUID, list[str]]  # order id -> [status]
    refunds_published: Counter[uuid.UUID]
    dead_letters: dict[str, int]  # service -> dead letters not replayed successfully

    def count(self, status: str) -> int:
        return sum(1 for s, _ in self.orders.values() if s == status)


def read_books(shop: Shop) -> Books:
    orders = {
        as_uuid(i): (str(s), as_money(a)) for i, s, a in shop.rows("order", "SELECT id, status, amount FROM orders")
    }
    sagas = {
        as_uuid(k): str(s)
        for k, s in shop.rows("order", "SELECT key, status FROM saga_states WHERE saga = 'place_order'")
    }
    payments: dict[uuid.UUID, list[tuple[str, Decimal]]] = {}
    for order_id, status, amount in shop.rows("payment", "SELECT order_id, status, amount FROM payments"):
        payments.setdefault(as_uuid(order_id), []).append((str(status), as_money(amount)))
    reservations: dict[uuid.UUID, list[str]] = {}
    for order_id, status in shop.rows("inventory", "SELECT order_id, status FROM reservations"):
        reservations.setdefault(as_uuid(order_id), []).append(str(status))
    refunds = Counter(
        as_uuid(key) for (key,) in shop.rows("payment", "SELECT key FROM outbox WHERE topic = 'payment.refunded'")
    )
    dead = {
        service: shop.rows(service, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL")[0][0]
        for service in shop.services
        if shop.table_exists(service, "dead_letters")
    }
    return Books(orders, sagas, payments, reservations, refunds, dead)


def _wrong(books: Books, ident: uuid.UUID) -> list[tuple[str, str]]:
    """What is wrong with the books of one order: (kind, detail) pairs."""
    status, amount = books.orders[ident]
    saga = books.sagas.get(ident)
    payments = books.payments.get(ident, [])
    paid = [f"{s} {a}" for s, a in payments]
    reservations = books.reservations.get(ident, [])
    refunds = books.refunds_published[ident]
    wrong: list[tuple[str, str]] = []
    if len(payments) > 1:
        wrong.append(("more than one payment", f"payments {paid}"))
    if len(reservations) > 1:
        wrong.append(("more than one reservation", f"reservations {reservations}"))
    if refunds > 1:
        wrong.append(("more than one refund published", f"{refunds} payment.refunded"))
    if refunds and [s for s, _ in payments] != ["REFUNDED"]:
        wrong.append(("a refund published for a payment not REFUNDED", f"payments {paid}"))
    if status == "CONFIRMED":
        if saga != "COMPLETED":
            wrong.append(("CONFIRMED, saga not COMPLETED", f"saga {saga}"))
        if payments != [("AUTHORIZED", amount)]:
            wrong.append(("CONFIRMED without one AUTHORIZED payment of its amount", f"payments {paid}"))
        if reservations != ["RESERVED"]:
            wrong.append(("CONFIRMED without one RESERVED reservation", f"reservations {reservations}"))
    elif status == "CANCELLED":
        if saga != "FAILED":
            wrong.append(("CANCELLED, saga not FAILED", f"saga {saga}"))
        if any(s == "AUTHORIZED" for s, _ in payments):
            wrong.append(("CANCELLED but charged", f"payments {paid}"))
        if any(s == "REFUNDED" and a != amount for s, a in payments):
            wrong.append(("CANCELLED, refunded another amount", f"payments {paid}"))
        if "RESERVED" in reservations:
            wrong.append(("CANCELLED but stock held", f"reservations {reservations}"))
    else:
        wrong.append(("order not final", f"saga {saga}"))
    return wrong


def assert_books(shop: Shop, *, dead_letters: Mapping[str, int] | None = None, settle: float = 180) -> Books:
    """Wait until the system settles, then check the books of every order; returns them for further checks.

    Every order is CONFIRMED with its saga COMPLETED, one AUTHORIZED payment of its amount and one
    RESERVED reservation; or CANCELLED with its saga FAILED, nothing charged (no payment, FAILED, or
    REFUNDED) and nothing reserved. No payment or reservation belongs to an unknown order, no refund was
    published for an order never charged, and the dead letters are exactly `dead_letters` (none by default).
    """
    wait_settled(shop, settle)
    books = read_books(shop)
    problems: list[tuple[str, str]] = []  # (what is wrong, an example)
    for ident, (status, amount) in books.orders.items():
        problems += [(kind, f"order {ident} ({status}, {amount}): {detail}") for kind, detail in _wrong(books, ident)]
    strays = (set(books.payments) | set(books.reservations) | set(books.sagas)) - set(books.orders)
    problems += [("a payment, reservation or saga of no order", str(ident)) for ident in sorted(strays)]
    expected = {service: (dead_letters or {}).get(service, 0) for service in books.dead_letters}
    if books.dead_letters != expected:
        problems.append(("dead letters", f"{books.dead_letters}, expected {expected}"))
    if problems:
        kinds = Counter(kind for kind, _ in problems)
        examples = {kind: example for kind, example in reversed(problems)}
        report = "\n".join(f"  {n} x {kind}, e.g. {examples[kind]}" for kind, n in kinds.most_common())
        statuses = Counter(status for status, _ in books.orders.values())
        raise AssertionError(f"the books are wrong ({len(books.orders)} orders, {dict(statuses)}):\n{report}")
    return books
