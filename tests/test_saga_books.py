"""The books invariant of the shop's saga, with the generated default handlers and no user code.

The order, payment and inventory services of the generated shop run in this process on
real databases (SQLite files, and PostgreSQL databases of their own when
MSGEN_TEST_POSTGRES_URL is set). A small relay here reads each service's outbox and
hands the messages to the generated subscriptions in an order each test chooses:
timeouts, a cancellation before the trigger, late successes, duplicates, the last
step's compensation, and random interleavings. Every test ends by checking the books
of each order: a CONFIRMED order has one AUTHORIZED payment of its amount and one
RESERVED reservation; a CANCELLED one has no net charge and no stock held; no saga is
left running; nothing is left in an outbox.
"""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from msgen.errors import SpecError
from msgen.generate import generate
from msgen.writer import write_project
from msgen_runtime.db import Database
from msgen_runtime.entities import utcnow
from msgen_runtime.messaging import codec
from msgen_runtime.messaging.broker import NatsJetStream
from msgen_runtime.messaging.consumer import Consumer, Subscription

SERVICES = ("order", "payment", "inventory")
TRIP_SERVICES = ("trip", "hotel", "bank")
ROOT = Path(__file__).resolve().parents[1]


def _import(root: Path, services: tuple[str, ...]) -> Iterator[dict[str, dict[str, ModuleType]]]:
    paths = [str(root / "services" / name) for name in services]
    sys.path[:0] = paths
    try:
        yield {
            name: {part: import_module(f"{name}_service.{part}") for part in ("models", "events", "messaging")}
            for name in services
        }
    finally:
        for path in paths:
            sys.path.remove(path)


@pytest.fixture(scope="module")
def packages(shop_dir: Path) -> Iterator[dict[str, dict[str, ModuleType]]]:
    """The generated modules of the shop's three saga services, imported from the written shop."""
    yield from _import(shop_dir, SERVICES)


@pytest.fixture(scope="module")
def trip_packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, ModuleType]]]:
    """The generated modules of tests/fixtures/trip.yaml: its orchestrator owns a compensation command."""
    generated = generate(ROOT / "tests" / "fixtures" / "trip.yaml")
    root = tmp_path_factory.mktemp("trips") / "trips"
    write_project(root, generated.files, generated.system.spec_hash)
    yield from _import(root, TRIP_SERVICES)


@pytest.fixture(scope="module")
def postgres_databases(postgres_url: str) -> Iterator[dict[str, str]]:
    """One PostgreSQL database per service, created for this module and dropped after it."""
    suffix = uuid.uuid4().hex[:8]
    names = {name: f"msgen_books_{name}_{suffix}" for name in SERVICES + TRIP_SERVICES}

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            for db in names.values():
                await conn.execute(statement.format(db=db))
        finally:
            await conn.close()

    asyncio.run(run('CREATE DATABASE "{db}"'))
    base = postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield {name: f"{base}/{db}" for name, db in names.items()}
    finally:
        asyncio.run(run('DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {name: f"sqlite+aiosqlite:///{tmp_path / name}.db" for name in SERVICES + TRIP_SERVICES}
    databases: dict[str, str] = request.getfixturevalue("postgres_databases")
    return databases


@dataclass
class Node:
    name: str
    models: ModuleType
    events: ModuleType
    messaging: ModuleType
    sessions: async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Message:
    topic: str
    body: bytes
    to: str  # the consuming service
    message_id: str = ""  # the outbox row's: a redelivery through the Consumer is the same message


@dataclass
class Shop:
    """The three services and the messages relayed but not yet delivered."""

    nodes: dict[str, Node]
    orchestrator: str = "order"
    saga_name: str = "place_order"
    key: str = "order_id"
    in_flight: list[Message] = field(default_factory=list)
    published: list[tuple[str, str]] = field(default_factory=list)  # (topic, key) of every message relayed
    orders: list[uuid.UUID] = field(default_factory=list)
    refunds: list[tuple[str, Decimal]] = field(default_factory=list)
    through_consumer: bool = False  # deliver through each service's real Consumer (inbox, retries)
    consumers: dict[str, Any] = field(default_factory=dict)

    @property
    def saga(self) -> Any:
        return getattr(self.nodes[self.orchestrator].events, self.saga_name.upper())

    async def relay(self) -> None:
        """Publish every unsent outbox row: each subscribed service gets the message in flight."""
        for node in self.nodes.values():
            outbox = node.models.OutboxMessage
            async with node.sessions() as session:
                rows = list(
                    await session.scalars(sa.select(outbox).where(outbox.sent_at.is_(None)).order_by(outbox.id))
                )
                for row in rows:
                    row.sent_at = utcnow()
                    self.published.append((row.topic, str(row.key)))
                    if row.topic == "payment.refunded":  # every refund published, once each
                        refund = node.events.PAYMENT_REFUNDED.decode(row.body)
                        self.refunds.append((str(refund.order_id), refund.amount))
                    for target in self.nodes.values():
                        if any(s.event.topic == row.topic for s in target.messaging.MESSAGING.subscriptions):
                            self.in_flight.append(Message(row.topic, row.body, target.name, row.message_id))
                await session.commit()

    async def deliver(self, message: Message) -> None:
        """Run the consuming service's subscription for `message` in a transaction of its own."""
        node = self.nodes[message.to]
        if self.through_consumer:
            if node.name not in self.consumers:
                self.consumers[node.name] = _consumer(node, node.sessions)
            headers = {codec.HEADER_MESSAGE_ID: message.message_id}
            outcome = await self.consumers[node.name].receive(message.topic, message.body, headers)
            assert outcome in ("processed", "duplicate"), outcome
            return
        for sub in node.messaging.MESSAGING.subscriptions:
            if sub.event.topic != message.topic:
                continue
            payload = sub.event.decode(message.body)
            async with node.sessions() as session:
                await sub.handler(session, payload)
                await session.commit()

    async def pump(
        self, *, hold: Callable[[Message], bool] = lambda m: False, rng: random.Random | None = None
    ) -> None:
        """Relay and deliver until nothing is left but the held messages (random order with `rng`)."""
        while True:
            await self.relay()
            ready = [m for m in self.in_flight if not hold(m)]
            if not ready:
                return
            message = rng.choice(ready) if rng else ready[0]
            self.in_flight.remove(message)
            await self.deliver(message)
            if rng and rng.random() < 0.3:  # redelivered (directly: as if with another message id)
                await self.deliver(message)

    async def place(self, amount: str = "12.50") -> uuid.UUID:
        node = self.nodes["order"]
        lines = [{"product_id": str(uuid.uuid4()), "quantity": 2, "unit_price": str(Decimal(amount) / 2)}]
        async with node.sessions() as session:
            order = node.models.Order(
                user_id=uuid.uuid4(), email="someone@example.com", lines=lines, amount=Decimal(amount)
            )
            session.add(order)
            await session.flush()
            event = node.events.OrderCreated.model_validate(
                {
                    "order_id": order.id,
                    "user_id": order.user_id,
                    "email": order.email,
                    "amount": order.amount,
                    "currency": "EUR",
                    "lines": lines,
                }
            )
            await node.events.publish(session, event)
            await session.commit()
        self.orders.append(order.id)
        return order.id

    async def state(self, order_id: uuid.UUID) -> Any:
        node = self.nodes[self.orchestrator]
        async with node.sessions() as session:
            return await session.get(node.models.SagaState, (self.saga_name, str(order_id)))

    async def time_out(self, order_id: uuid.UUID, *, sent_ago: float = 3600) -> None:
        """The deadline of the saga's current step passes, its trigger sent `sent_ago` seconds ago."""
        node = self.nodes[self.orchestrator]
        async with node.sessions() as session:
            state = await session.get(node.models.SagaState, (self.saga_name, str(order_id)))
            assert state is not None
            state.deadline = utcnow() - timedelta(seconds=1)
            outbox = node.models.OutboxMessage
            await session.execute(
                sa.update(outbox)
                .where(outbox.key == str(order_id), outbox.sent_at.is_not(None))
                .values(sent_at=utcnow() - timedelta(seconds=sent_ago))
            )
            await session.commit()
        await self.saga.expire(node.sessions)

    async def rows(self, service: str, table: str, order_id: uuid.UUID) -> list[Any]:
        node = self.nodes[service]
        model = getattr(node.models, table)
        async with node.sessions() as session:
            return list(await session.scalars(sa.select(model).where(getattr(model, self.key) == order_id)))

    async def assert_books(self) -> dict[str, str]:
        """The books invariant for every order placed; returns each order's final status."""
        assert not self.in_flight
        outcomes = {}
        order_node = self.nodes["order"]
        for order_id in self.orders:
            async with order_node.sessions() as session:
                order = await session.get(order_node.models.Order, order_id)
            state = await self.state(order_id)
            payments = await self.rows("payment", "Payment", order_id)
            reservations = await self.rows("inventory", "Reservation", order_id)
            assert order is not None and state is not None
            assert len(payments) <= 1 and len(reservations) <= 1, (payments, reservations)
            charged = sum((p.amount for p in payments if p.status == "AUTHORIZED"), Decimal(0))
            held = [r for r in reservations if r.status == "RESERVED"]
            refunded = [amount for key, amount in self.refunds if key == str(order_id)]
            if order.status == "CONFIRMED":
                assert state.status == "COMPLETED"
                assert [p.status for p in payments] == ["AUTHORIZED"] and charged == order.amount
                assert len(held) == 1
                assert refunded == []
            else:
                assert order.status == "CANCELLED", order.status
                assert state.status == "FAILED"
                assert charged == 0 and held == []
                assert all(p.status in ("REFUNDED", "FAILED") for p in payments)
                # a refund only of what was charged, of the amount charged, once
                was_charged = [p.amount for p in payments if p.status == "REFUNDED"]
                assert sorted(refunded) == sorted(was_charged), (refunded, was_charged)
            outcomes[str(order_id)] = order.status
        await self.assert_quiet()
        return outcomes

    async def assert_quiet(self) -> None:
        """Nothing in flight, no outbox row unsent, no dead letter."""
        assert not self.in_flight
        for node in self.nodes.values():
            async with node.sessions() as session:
                outbox = node.models.OutboxMessage
                unsent = await session.scalar(sa.select(sa.func.count()).where(outbox.sent_at.is_(None)))
                letters = await session.scalar(sa.select(sa.func.count()).select_from(node.models.DeadLetter))
            assert unsent == 0 and letters == 0


def run_shop(
    packages: dict[str, dict[str, ModuleType]],
    urls: dict[str, str],
    scenario: Callable[[Shop], Awaitable[None]],
    **saga: str,
) -> None:
    async def main() -> None:
        nodes = {}
        engines = []
        for name in packages:
            engine = create_async_engine(urls[name])
            engines.append(engine)
            async with engine.begin() as conn:
                await conn.run_sync(packages[name]["models"].Base.metadata.create_all)
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            nodes[name] = Node(name, **packages[name], sessions=sessions)
        try:
            await scenario(Shop(nodes, **saga))
        finally:
            for engine in engines:
                await engine.dispose()

    asyncio.run(main())


def test_an_order_is_confirmed_with_one_charge_and_one_reservation(packages: Any, urls: dict[str, str]) -> None:
    async def scenario(shop: Shop) -> None:
        await shop.place("39.80")
        while True:  # every message delivered twice: the ledger acts once
            await shop.relay()
            if not shop.in_flight:
                break
            message = shop.in_flight.pop(0)
            await shop.deliver(message)
            await shop.deliver(message)
        assert list((await shop.assert_books()).values()) == ["CONFIRMED"]

    run_shop(packages, urls, scenario)


def test_two_events_of_one_saga_in_one_transaction_advance_it_twice(packages: Any, urls: dict[str, str]) -> None:
    """A transaction may carry several messages (a consumer's batch): the saga's second event in it finds the
    state the first one left, not yet written (no autoflush), and the saga still ends once, with its books."""
    together = ("payment.authorized", "inventory.reserved")

    async def scenario(shop: Shop) -> None:
        order_id = await shop.place("18.00")
        await shop.pump(hold=lambda m: m.to == "order" and m.topic in together)
        held = sorted(shop.in_flight, key=lambda m: together.index(m.topic))
        assert [m.topic for m in held] == list(together)
        shop.in_flight.clear()
        node = shop.nodes["order"]
        async with node.sessions() as session:
            for message in held:
                (sub,) = [s for s in node.messaging.MESSAGING.subscriptions if s.event.topic == message.topic]
                await sub.handler(session, sub.event.decode(message.body))
            await session.commit()
        await shop.pump()
        assert (await shop.assert_books()) == {str(order_id): "CONFIRMED"}

    run_shop(packages, urls, scenario)


def test_a_cancellation_before_the_charge_charges_nothing(packages: Any, urls: dict[str, str]) -> None:
    async def scenario(shop: Shop) -> None:
        order_id = await shop.place()
        # payment is down: order.created waits; the step times out and the saga fails
        await shop.pump(hold=lambda m: m.to == "payment")
        await shop.time_out(order_id)
        assert (await shop.state(order_id)).status == "FAILED"
        await shop.relay()
        # order.cancelled reaches payment before order.created (separate topics, no ordering)
        cancelled = [m for m in shop.in_flight if m.topic == "order.cancelled"]
        for message in cancelled:
            shop.in_flight.remove(message)
            await shop.deliver(message)
        await shop.pump()
        assert await shop.rows("payment", "Payment", order_id) == []
        assert list((await shop.assert_books()).values()) == ["CANCELLED"]

    run_shop(packages, urls, scenario)


@pytest.mark.parametrize("cancel_first", [False, True])
def test_a_charge_after_the_timeout_is_refunded(packages: Any, urls: dict[str, str], cancel_first: bool) -> None:
    async def scenario(shop: Shop) -> None:
        order_id = await shop.place()
        # payment charges, but its reply is slow: the orchestrator times the step out first
        await shop.pump(hold=lambda m: m.to == "order" or m.topic == "payment.authorized")
        assert [p.status for p in await shop.rows("payment", "Payment", order_id)] == ["AUTHORIZED"]
        await shop.time_out(order_id)
        await shop.relay()
        if cancel_first:
            await shop.pump(hold=lambda m: m.topic == "payment.authorized")
        await shop.pump()  # the late payment.authorized reaches order and inventory
        state = await shop.state(order_id)
        assert state.status == "FAILED" and state.reason == "authorize_payment timed out"
        [payment] = await shop.rows("payment", "Payment", order_id)
        assert payment.status == "REFUNDED"
        assert [r.status for r in await shop.rows("inventory", "Reservation", order_id)] == (
            [] if cancel_first else ["RELEASED"]
        )
        assert list((await shop.assert_books()).values()) == ["CANCELLED"]

    run_shop(packages, urls, scenario)


def test_the_timeout_counts_from_the_triggers_publication(packages: Any, urls: dict[str, str]) -> None:
    async def scenario(shop: Shop) -> None:
        order_id = await shop.place()
        # the deadline passes while order.created is still in the outbox: the step has not begun
        await shop.time_out(order_id)
        state = await shop.state(order_id)
        assert state.status == "RUNNING" and state.deadline > utcnow() + timedelta(seconds=25)
        # sent just now: the step has its whole 30 s from now
        await shop.relay()
        await shop.time_out(order_id, sent_ago=1)
        state = await shop.state(order_id)
        assert state.status == "RUNNING"
        assert utcnow() + timedelta(seconds=25) < state.deadline < utcnow() + timedelta(seconds=30)
        # sent 31 s ago with no answer: the step timed out, once
        await shop.time_out(order_id, sent_ago=31)
        assert (await shop.state(order_id)).status == "FAILED"
        await shop.time_out(order_id)  # a second decision changes nothing
        await shop.pump()
        assert list((await shop.assert_books()).values()) == ["CANCELLED"]

    run_shop(packages, urls, scenario)


@pytest.mark.parametrize("release_first", [False, True])
def test_the_last_step_is_undone_when_the_saga_fails_around_it(
    packages: Any, urls: dict[str, str], release_first: bool
) -> None:
    async def scenario(shop: Shop) -> None:
        order_id = await shop.place()
        # inventory is down: payment.authorized waits for it; the reservation step times out
        await shop.pump(hold=lambda m: m.to == "inventory" and m.topic == "payment.authorized")
        assert (await shop.state(order_id)).step == 1
        await shop.time_out(order_id)
        await shop.pump(hold=lambda m: m.to == "inventory" and (m.topic == "payment.authorized") == release_first)
        await shop.pump()
        reservations = await shop.rows("inventory", "Reservation", order_id)
        assert [r.status for r in reservations] == ([] if release_first else ["RELEASED"])
        assert [p.status for p in await shop.rows("payment", "Payment", order_id)] == ["REFUNDED"]
        assert list((await shop.assert_books()).values()) == ["CANCELLED"]

    run_shop(packages, urls, scenario)


def test_a_rejected_reservation_refunds_the_charge(packages: Any, urls: dict[str, str]) -> None:
    async def scenario(shop: Shop) -> None:
        order_id = await shop.place("20.00")
        await shop.pump(hold=lambda m: m.to == "inventory" and m.topic == "payment.authorized")
        shop.in_flight.clear()  # inventory refuses instead of running its default handler
        inventory = shop.nodes["inventory"]
        async with inventory.sessions() as session:
            rejected = inventory.events.InventoryRejected(order_id=order_id, reason="not enough stock")
            await inventory.events.publish(session, rejected)
            await session.commit()
        await shop.pump()
        assert (await shop.state(order_id)).reason == "not enough stock"
        assert shop.refunds == [(str(order_id), Decimal("20.00"))]
        assert list((await shop.assert_books()).values()) == ["CANCELLED"]

    run_shop(packages, urls, scenario)


@pytest.mark.parametrize(("seed", "through_consumer"), [(s, False) for s in range(6)] + [(s, True) for s in range(4)])
def test_random_orderings_keep_the_books(
    packages: Any, urls: dict[str, str], seed: int, through_consumer: bool
) -> None:
    async def scenario(shop: Shop) -> None:
        shop.through_consumer = through_consumer
        rng = random.Random(seed)
        orders = [await shop.place(f"{rng.randint(1, 500)}.00") for _ in range(4)]
        down = {o: rng.choice(["payment", "inventory", "order", None]) for o in orders}

        def hold(message: Message) -> bool:
            return down[uuid.UUID(_key(shop, message))] == message.to

        await shop.pump(hold=hold, rng=rng)
        for order_id in orders:
            if (await shop.state(order_id)).status in ("RUNNING", "COMPENSATING"):
                await shop.time_out(order_id)
        await shop.pump(rng=rng)  # the services come back: everything in flight arrives, in any order
        # every saga has ended on what it received: none waits for a compensation's `done` it already had
        assert [
            (await shop.state(o)).status for o in orders if (await shop.state(o)).status not in ("COMPLETED", "FAILED")
        ] == []
        outcomes = await shop.assert_books()
        assert all(outcomes[str(o)] == "CONFIRMED" for o, svc in down.items() if svc is None)

    run_shop(packages, urls, scenario)


def test_a_refund_that_arrives_before_the_rejection_ends_the_saga(packages: Any, urls: dict[str, str]) -> None:
    async def scenario(shop: Shop) -> None:
        order_id = await shop.place("20.00")
        await shop.pump(hold=lambda m: m.to == "inventory" and m.topic == "payment.authorized")
        shop.in_flight.clear()  # inventory refuses instead of running its default handler
        inventory = shop.nodes["inventory"]
        async with inventory.sessions() as session:
            await inventory.events.publish(
                session, inventory.events.InventoryRejected(order_id=order_id, reason="none")
            )
            await session.commit()
        # the orchestrator's inventory.rejected consumer lags: payment refunds, and its done arrives first
        await shop.pump(hold=lambda m: m.to == "order" and m.topic == "inventory.rejected")
        assert (await shop.state(order_id)).status == "RUNNING"
        await shop.pump()
        state = await shop.state(order_id)
        assert state.status == "FAILED" and state.reason == "none"  # not waiting for the refund it already had
        assert shop.refunds == [(str(order_id), Decimal("20.00"))]
        assert list((await shop.assert_books()).values()) == ["CANCELLED"]

    run_shop(packages, urls, scenario)


def _key(shop: Shop, message: Message) -> str:
    for node in shop.nodes.values():
        for sub in node.messaging.MESSAGING.subscriptions:
            if sub.event.topic == message.topic:
                return str(getattr(sub.event.decode(message.body), shop.key))
    return ""


def test_concurrent_duplicates_charge_once(packages: Any, request: pytest.FixtureRequest) -> None:
    urls: dict[str, str] = request.getfixturevalue("postgres_databases")

    async def scenario(shop: Shop) -> None:
        await shop.place()
        await shop.relay()
        [created] = [m for m in shop.in_flight if m.to == "payment"]
        shop.in_flight.remove(created)
        await asyncio.gather(*(shop.deliver(created) for _ in range(5)))
        await shop.pump()
        assert list((await shop.assert_books()).values()) == ["CONFIRMED"]

    run_shop(packages, urls, scenario)


def _spec_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "examples" / "shop.yaml").read_text()
    assert old in text
    path = tmp_path / "shop.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_a_step_with_books_needs_a_compensation(tmp_path: Path) -> None:
    spec = _spec_with(tmp_path, "        compensation: { trigger: order.cancelled }\n", "")
    with pytest.raises(SpecError) as error:
        generate(spec)
    [problem] = error.value.diagnostics
    assert "step 'reserve_inventory' keeps books in Reservation, so it holds something" in str(problem)
    assert str(problem).startswith(f"{spec}:")


def test_a_compensation_without_done_is_only_the_failure_events(tmp_path: Path) -> None:
    spec = _spec_with(
        tmp_path, "compensation: { trigger: order.cancelled }", "compensation: { trigger: [inventory.rejected] }"
    )
    with pytest.raises(SpecError) as error:
        generate(spec)
    messages = [d.message for d in error.value.diagnostics]
    # its own failure event: it would be undone before it acted, with nothing telling the orchestrator
    assert any(
        "a compensation without 'done' is triggered by the saga's on_failure event 'order.cancelled', a later step's "
        "failure event or a command of service 'order': 'inventory.rejected' is none of these" in m
        for m in messages
    )
    assert any("list the saga's on_failure event 'order.cancelled' among the triggers" in m for m in messages)


# -- a saga whose orchestrator owns a compensation command ------------------------------------------

TRIP = {"orchestrator": "trip", "saga_name": "book_trip", "key": "trip_id"}


async def request_trip(shop: Shop, amount: str = "300.00") -> uuid.UUID:
    node = shop.nodes["trip"]
    trip_id = uuid.uuid4()
    async with node.sessions() as session:
        await node.events.publish(session, node.events.TripRequested(trip_id=trip_id, amount=Decimal(amount)))
        await session.commit()
    shop.orders.append(trip_id)
    return trip_id


async def assert_trip_books(shop: Shop) -> dict[str, str]:
    """Each trip: COMPLETED with its booking BOOKED and its charge CHARGED, or FAILED with neither held."""
    outcomes = {}
    for trip_id in shop.orders:
        state = await shop.state(trip_id)
        bookings = await shop.rows("hotel", "Booking", trip_id)
        charges = await shop.rows("bank", "Charge", trip_id)
        assert len(bookings) <= 1 and len(charges) <= 1
        released = [k for topic, k in shop.published if topic == "hotel.released" and k == str(trip_id)]
        if state.status == "COMPLETED":
            assert [b.status for b in bookings] == ["BOOKED"] and [c.status for c in charges] == ["CHARGED"]
            assert released == []
        else:
            assert state.status == "FAILED", state.status
            assert all(b.status == "RELEASED" for b in bookings) and all(c.status == "REFUNDED" for c in charges)
            assert len(released) == len(bookings)  # undone once, and only what was done
        outcomes[str(trip_id)] = state.status
    await shop.assert_quiet()
    return outcomes


def test_another_saga_refused_by_its_last_step_releases_the_first(trip_packages: Any, urls: dict[str, str]) -> None:
    async def scenario(shop: Shop) -> None:
        trip_id = await request_trip(shop)
        await shop.pump(hold=lambda m: m.to == "bank")
        shop.in_flight.clear()  # the bank refuses instead of running its default handler
        bank = shop.nodes["bank"]
        async with bank.sessions() as session:
            await bank.events.publish(session, bank.events.BankRefused(trip_id=trip_id, reason="card declined"))
            await session.commit()
        await shop.pump()
        assert ("hotel.release_requested", str(trip_id)) in shop.published  # the orchestrator's own command
        assert await shop.rows("bank", "Charge", trip_id) == []
        assert list((await assert_trip_books(shop)).values()) == ["FAILED"]

    run_shop(trip_packages, urls, scenario, **TRIP)


def test_another_sagas_late_success_is_undone_by_the_orchestrators_command(
    trip_packages: Any, urls: dict[str, str]
) -> None:
    async def scenario(shop: Shop) -> None:
        trip_id = await request_trip(shop)
        await shop.pump(hold=lambda m: m.to == "trip" or m.topic == "hotel.booked")
        await shop.time_out(trip_id)
        assert (await shop.state(trip_id)).status == "FAILED"
        await shop.relay()
        late = [m for m in shop.in_flight if m.topic == "hotel.booked" and m.to == "trip"]
        for message in late:  # the hotel's late success reaches the orchestrator first
            shop.in_flight.remove(message)
            await shop.deliver(message)
        await shop.pump()
        assert shop.published.count(("hotel.release_requested", str(trip_id))) == 1
        assert [b.status for b in await shop.rows("hotel", "Booking", trip_id)] == ["RELEASED"]
        assert list((await assert_trip_books(shop)).values()) == ["FAILED"]

    run_shop(trip_packages, urls, scenario, **TRIP)


@pytest.mark.parametrize("seed", range(4))
def test_another_saga_keeps_its_books_in_random_orderings(trip_packages: Any, urls: dict[str, str], seed: int) -> None:
    async def scenario(shop: Shop) -> None:
        rng = random.Random(seed)
        trips = [await request_trip(shop) for _ in range(4)]
        down = {t: rng.choice(["hotel", "bank", "trip", None]) for t in trips}

        def hold(message: Message) -> bool:
            return down[uuid.UUID(_key(shop, message))] == message.to

        await shop.pump(hold=hold, rng=rng)
        for trip_id in trips:  # time out what waits for the service that is down
            if (await shop.state(trip_id)).status in ("RUNNING", "COMPENSATING"):
                await shop.time_out(trip_id)
        await shop.pump(rng=rng)  # the service comes back: every saga ends on what it receives, no timeout
        assert [
            (await shop.state(t)).status for t in trips if (await shop.state(t)).status not in ("COMPLETED", "FAILED")
        ] == []
        outcomes = await assert_trip_books(shop)
        assert all(outcomes[str(t)] == "COMPLETED" for t, svc in down.items() if svc is None)

    run_shop(trip_packages, urls, scenario, **TRIP)


def test_a_failure_path_written_by_the_user_is_not_refunded(packages: Any, urls: dict[str, str]) -> None:
    async def scenario(shop: Shop) -> None:
        order_id = await shop.place("2000.00")
        await shop.relay()
        [created] = [m for m in shop.in_flight if m.to == "payment"]
        shop.in_flight.remove(created)
        payment = shop.nodes["payment"]
        async with payment.sessions() as session:  # a handler the user wrote: refused above the card limit
            event = payment.events.ORDER_CREATED.decode(created.body)
            assert await payment.events.PLACE_ORDER_AUTHORIZE_PAYMENT.apply(session, event.order_id)
            session.add(payment.models.Payment(order_id=event.order_id, amount=event.amount, status="FAILED"))
            await payment.events.publish(session, payment.events.PaymentFailed(order_id=order_id, reason="limit"))
            await session.commit()
        await shop.pump()
        assert [p.status for p in await shop.rows("payment", "Payment", order_id)] == ["FAILED"]
        assert shop.refunds == []  # order.cancelled reached payment: nothing was charged, nothing refunded
        assert ("order.cancelled", str(order_id)) in shop.published
        assert list((await shop.assert_books()).values()) == ["CANCELLED"]

    run_shop(packages, urls, scenario)


# -- through the real Consumer (inbox), on two connections of one database ----------------------------


def _consumer(node: Node, sessions: async_sessionmaker[AsyncSession], gate: Any = None) -> Consumer:
    """The service's real Consumer on `sessions`; `gate(session)` runs after each handler, before the commit.

    Its broker is never connected: it is used only to publish a dead letter, and every test here
    asserts there is none.
    """
    subscriptions = []
    for sub in node.messaging.MESSAGING.subscriptions:

        async def handler(session: AsyncSession, payload: Any, real: Any = sub.handler) -> None:
            await real(session, payload)
            if gate is not None:
                await gate(session)

        subscriptions.append(Subscription(sub.event, handler))
    config = node.messaging.MESSAGING
    broker = NatsJetStream("nats://127.0.0.1:1", stream="unused", topics=config.topics)
    return Consumer(
        service=node.name,
        sessions=sessions,
        inbox=config.inbox,
        dead_letters=config.dead_letters,
        broker=broker,
        subscriptions=subscriptions,
        backoff=0.01,
    )


async def _receive(consumer: Consumer, message: Message) -> str:
    headers = {codec.HEADER_MESSAGE_ID: str(uuid.uuid4()), codec.HEADER_KEY: ""}
    return await consumer.receive(message.topic, message.body, headers)


async def _lock_waits(url: str) -> int:
    """How many sessions of the PostgreSQL database at `url` wait for a lock."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    finally:
        await conn.close()
    return int(count)


async def _until(condition: Callable[[], Awaitable[bool]], what: str, limit: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"waited {limit} s for {what}"
        await asyncio.sleep(0.01)


def test_a_timeout_racing_the_last_reply_decides_once(packages: Any, urls: dict[str, str]) -> None:
    """The expiry reads the state while the consumer's transaction (the last step's success) is not committed.

    On PostgreSQL the expiry waits on the row lock; on SQLite with two connections it reads the state as
    it was and its write then fails the version check. Either way the saga completes, once: without the
    lock, the re-check in `expire` or the version check it would also be cancelled.
    """

    async def scenario(shop: Shop) -> None:
        order_id = await shop.place("20.00")
        await shop.pump(hold=lambda m: m.to == "order" and m.topic == "inventory.reserved")
        [reply] = [m for m in shop.in_flight if m.to == "order"]
        shop.in_flight.remove(reply)
        node = shop.nodes["order"]
        async with node.sessions() as session:
            await session.execute(sa.update(node.models.SagaState).values(deadline=utcnow() - timedelta(seconds=1)))
            await session.commit()
        database = Database(urls["order"], pool_size=2)
        read = asyncio.Event()

        def after_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().startswith("SELECT") and "saga_states.context" in statement:
                read.set()  # the expiry has read the state (on PostgreSQL: has asked for its lock)

        hook = "before_cursor_execute" if database.url.startswith("postgresql") else "after_cursor_execute"
        expiring: list[asyncio.Task[int]] = []

        async def gate(session: AsyncSession) -> None:
            await session.flush()  # the reply's changes are written, not committed
            read.clear()  # the consumer's own read of the state
            expiring.append(asyncio.create_task(shop.saga.expire(database.sessions)))
            await _until(_flag(read), "the expiry to read the state")
            if database.url.startswith("postgresql"):
                await _until(_waits(urls["order"]), "the expiry to wait for the row lock")

        sa.event.listen(database.engine.sync_engine, hook, after_execute)
        try:
            assert await _receive(_consumer(node, database.sessions, gate), reply) == "processed"
            assert await expiring[0] == 0
        finally:
            await database.dispose()
        assert (await shop.state(order_id)).status == "COMPLETED"
        await shop.pump()
        assert [t for t, k in shop.published if k == str(order_id) and t in ("order.confirmed", "order.cancelled")] == [
            "order.confirmed"
        ]
        assert list((await shop.assert_books()).values()) == ["CONFIRMED"]

    run_shop(packages, urls, scenario)


@pytest.fixture(scope="module")
def trip_command_packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, ModuleType]]]:
    """trip.yaml whose release command names the booking: a field only the step's success carries."""
    text = (ROOT / "tests" / "fixtures" / "trip.yaml").read_text()
    old = "  hotel.release_requested:\n    publisher: trip\n    consumers: [hotel]\n    key: trip_id\n"
    old += "    fields: { trip_id: uuid }\n"
    assert old in text
    spec = tmp_path_factory.mktemp("trip_spec") / "trip.yaml"
    spec.write_text(text.replace(old, old.replace("{ trip_id: uuid }", "{ trip_id: uuid, booking_id: uuid }")))
    generated = generate(spec)
    root = tmp_path_factory.mktemp("trips_command") / "trips"
    write_project(root, generated.files, generated.system.spec_hash)
    packages = {f"{name}_service" for name in TRIP_SERVICES}  # trip.yaml's own modules: put aside meanwhile
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in packages}
    for name in saved:
        del sys.modules[name]
    try:
        yield from _import(root, TRIP_SERVICES)
    finally:
        for name in [k for k in sys.modules if k.split(".")[0] in packages]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_a_late_success_fills_the_command_that_undoes_it(trip_command_packages: Any, urls: dict[str, str]) -> None:
    async def scenario(shop: Shop) -> None:
        trip_id = await request_trip(shop)
        await shop.pump(hold=lambda m: m.to == "trip" or m.topic == "hotel.booked")
        await shop.time_out(trip_id)
        await shop.relay()
        for message in [m for m in shop.in_flight if m.topic == "hotel.booked" and m.to == "trip"]:
            shop.in_flight.remove(message)
            await shop.deliver(message)  # raised before: the command lacked the booking's id
        [booking] = await shop.rows("hotel", "Booking", trip_id)
        await shop.relay()
        [command] = [m for m in shop.in_flight if m.topic == "hotel.release_requested"]
        assert shop.nodes["hotel"].events.HOTEL_RELEASE_REQUESTED.decode(command.body).booking_id == booking.id
        await shop.pump()
        assert list((await assert_trip_books(shop)).values()) == ["FAILED"]

    run_shop(trip_command_packages, urls, scenario, **TRIP)


@pytest.fixture(scope="module")
def trip_no_done_packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, ModuleType]]]:
    """trip.yaml whose hotel step is undone by the orchestrator's command with no `done` event to wait for."""
    text = (ROOT / "tests" / "fixtures" / "trip.yaml").read_text()
    old = "compensation: { trigger: [hotel.release_requested, trip.failed], done: hotel.released }"
    assert old in text
    spec = tmp_path_factory.mktemp("trip_no_done_spec") / "trip.yaml"
    spec.write_text(text.replace(old, "compensation: { trigger: [hotel.release_requested, trip.failed] }"))
    generated = generate(spec)
    root = tmp_path_factory.mktemp("trips_no_done") / "trips"
    write_project(root, generated.files, generated.system.spec_hash)
    packages = {f"{name}_service" for name in TRIP_SERVICES}  # trip.yaml's own modules: put aside meanwhile
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in packages}
    for name in saved:
        del sys.modules[name]
    try:
        yield from _import(root, TRIP_SERVICES)
    finally:
        for name in [k for k in sys.modules if k.split(".")[0] in packages]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_a_command_without_done_goes_out_and_is_not_waited_for(
    trip_no_done_packages: Any, urls: dict[str, str]
) -> None:
    async def scenario(shop: Shop) -> None:
        trip_id = await request_trip(shop)
        await shop.pump(hold=lambda m: m.to == "bank")
        shop.in_flight.clear()  # the bank refuses instead of running its default handler
        bank = shop.nodes["bank"]
        async with bank.sessions() as session:
            await bank.events.publish(session, bank.events.BankRefused(trip_id=trip_id, reason="card declined"))
            await session.commit()
        await shop.pump(hold=lambda m: m.to == "hotel")
        # the command went out, and the saga ended without waiting for the hotel
        assert ("hotel.release_requested", str(trip_id)) in shop.published
        assert ("trip.failed", str(trip_id)) in shop.published
        assert (await shop.state(trip_id)).status == "FAILED"
        [booking] = await shop.rows("hotel", "Booking", trip_id)
        assert booking.status == "BOOKED"
        await shop.pump()  # the hotel hears the command and the failure event: it releases once
        [booking] = await shop.rows("hotel", "Booking", trip_id)
        assert booking.status == "RELEASED"
        assert await shop.rows("bank", "Charge", trip_id) == []
        assert [t for t, k in shop.published if k == str(trip_id) and t == "hotel.released"] == []
        await shop.assert_quiet()

    run_shop(trip_no_done_packages, urls, scenario, **TRIP)


def test_a_saga_that_cannot_end_does_not_stop_the_other_timeouts(trip_packages: Any, urls: dict[str, str]) -> None:
    async def scenario(shop: Shop) -> None:
        trips = [await request_trip(shop) for _ in range(3)]
        await shop.pump(hold=lambda m: m.to == "hotel")  # the hotel is down: every trip waits
        node = shop.nodes["trip"]
        async with node.sessions() as session:
            state = await session.get(node.models.SagaState, ("book_trip", str(trips[0])))
            state.context = {}  # its failure event can no longer be built (no trip_id)
            await session.execute(sa.update(node.models.SagaState).values(deadline=utcnow() - timedelta(seconds=1)))
            await session.execute(
                sa.update(node.models.OutboxMessage).values(sent_at=utcnow() - timedelta(seconds=3600))
            )
            await session.commit()
        assert await shop.saga.expire(node.sessions) == 2
        assert [(await shop.state(t)).status for t in trips] == ["RUNNING", "FAILED", "FAILED"]

    run_shop(trip_packages, urls, scenario, **TRIP)


def test_a_reply_racing_the_timeout_that_won_is_compensated(packages: Any, urls: dict[str, str]) -> None:
    """The expiry has written its decision, not committed, when the last step's reply comes in.

    The consumer waits (the row lock on PostgreSQL, the one writer on SQLite), then finds the saga
    failed: the reservation is a late success, released by the saga's failure event; the order is
    cancelled, once.
    """

    async def scenario(shop: Shop) -> None:
        order_id = await shop.place("20.00")
        await shop.pump(hold=lambda m: m.to == "order" and m.topic == "inventory.reserved")
        [reply] = [m for m in shop.in_flight if m.to == "order"]
        shop.in_flight.remove(reply)
        node = shop.nodes["order"]
        async with node.sessions() as session:
            await session.execute(sa.update(node.models.SagaState).values(deadline=utcnow() - timedelta(seconds=1)))
            await session.commit()
        database = Database(urls["order"], pool_size=2)
        postgres = database.url.startswith("postgresql")
        asked = asyncio.Event()

        def before_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if "inbox" in statement or "saga_states.context" in statement:
                asked.set()  # the consumer has begun: its inbox row or its read of the state

        receiving: list[asyncio.Task[str]] = []

        class Expiring(AsyncSession):
            async def commit(self) -> None:
                await self.flush()  # the timeout's decision is written, not committed
                sa.event.listen(database.engine.sync_engine, "before_cursor_execute", before_execute)
                receiving.append(asyncio.create_task(_receive(_consumer(node, database.sessions), reply)))
                await _until(_flag(asked), "the consumer to begin")
                if postgres:
                    await _until(_waits(urls["order"]), "the consumer to wait for the row lock")
                await super().commit()

        try:
            expiring = async_sessionmaker(database.engine, class_=Expiring, expire_on_commit=False)
            assert await shop.saga.expire(expiring) == 1
            assert await receiving[0] == "processed"
        finally:
            await database.dispose()
        state = await shop.state(order_id)
        assert state.status == "FAILED" and state.reason == "reserve_inventory timed out"
        await shop.pump()
        assert [r.status for r in await shop.rows("inventory", "Reservation", order_id)] == ["RELEASED"]
        assert [t for t, k in shop.published if k == str(order_id) and t in ("order.confirmed", "order.cancelled")] == [
            "order.cancelled"
        ]
        assert list((await shop.assert_books()).values()) == ["CANCELLED"]

    run_shop(packages, urls, scenario)


def _flag(event: asyncio.Event) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return event.is_set()

    return check


def _waits(url: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await _lock_waits(url) > 0

    return check
