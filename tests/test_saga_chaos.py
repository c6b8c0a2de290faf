"""The Place Order saga keeps the books through crashes and outages (issue 11's tests).

The shop runs with its DEFAULT generated handlers (no user code; the dead-letter test alone edits the
notification handler to fail), as real processes on databases of their own (SQLite, and PostgreSQL when
MSGEN_TEST_POSTGRES_URL is set) with a nats-server of their own, one fresh system per test. The saga's
steps time out after a few seconds (set in the spec copy the test generates), so outages end in
cancelled orders quickly. Every test ends with `assert_books`: it waits until every outbox is sent,
every message handled and every saga final, then checks money and stock order by order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from msgen.generate import Generated
from tests.saga_support import (
    Prepared,
    Shop,
    assert_books,
    final_status,
    order_body,
    place,
    prepared_shop,
    running_shop,
    shop_with_step_timeout,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_saga_system_at_a_time")]

STEP_TIMEOUT = "5s"
BROKER_SERVICES = ("inventory", "notification", "order", "payment")  # the services with a broker connection


@pytest.fixture(scope="module")
def chaos_generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    return shop_with_step_timeout(tmp_path_factory.mktemp("chaos-spec"), STEP_TIMEOUT)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def prepared(
    request: pytest.FixtureRequest, chaos_generated: Generated, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prepared]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with prepared_shop(
        chaos_generated, tmp_path_factory.mktemp(f"chaos-{request.param}"), postgres_url=server
    ) as ready:
        yield ready


@pytest.fixture
def live(prepared: Prepared, tmp_path: Path) -> Iterator[Shop]:
    with running_shop(prepared, tmp_path) as shop:
        yield shop


def count(shop: Shop, service: str, query: str) -> int:
    return int(shop.rows(service, query)[0][0])


def test_kill_9_of_order_during_40_idempotent_posts_then_one_order_per_key(live: Shop) -> None:
    bodies = [order_body(live) for _ in range(40)]
    keys = [str(uuid.uuid4()) for _ in bodies]

    async def scenario() -> tuple[list[str], int, list[str]]:
        async with httpx.AsyncClient(timeout=30) as client:
            tasks = [asyncio.create_task(place(client, live, b, key=k)) for b, k in zip(bodies, keys, strict=True)]
            # kill as soon as the first order is accepted: the others are in the order service's hands
            await asyncio.wait(tasks, timeout=120, return_when=asyncio.FIRST_COMPLETED)
            await asyncio.to_thread(live.system.stop, "order", kill=True)
            pending = sum(1 for task in tasks if not task.done())
            live.system.start("order")
            idents = list(await asyncio.gather(*tasks))
            # a client retrying after it got its answer gets the same order again
            replays = list(
                await asyncio.gather(*(place(client, live, b, key=k) for b, k in zip(bodies, keys, strict=True)))
            )
            return idents, pending, replays

    idents, pending, replays = asyncio.run(scenario())
    assert pending > 0, "every POST was answered before the kill: nothing was interrupted"
    assert len(set(idents)) == 40
    assert replays == idents
    emails = [str(email) for (email,) in live.rows("order", "SELECT email FROM orders")]
    assert sorted(emails) == sorted(b["email"] for b in bodies), "not exactly one order per key"
    assert count(live, "order", "SELECT count(*) FROM idempotency_keys WHERE state = 'in_flight'") == 0
    books = assert_books(live)
    assert set(books.orders) == {uuid.UUID(i) for i in idents}
    assert books.count("CONFIRMED") > 0  # the saga still runs after the restart


def test_payment_down_orders_time_out_and_no_cancelled_order_is_charged(live: Shop) -> None:
    live.system.stop("payment")

    async def scenario() -> list[tuple[str, str]]:
        async with httpx.AsyncClient(timeout=30) as client:
            idents = await asyncio.gather(*(place(client, live, order_body(live)) for _ in range(5)))
            return [(i, await final_status(client, live, i, timeout=120)) for i in idents]

    results = asyncio.run(scenario())
    assert [status for _, status in results] == ["CANCELLED"] * 5  # the step timed out
    live.system.start("payment")
    live.system.wait_ready(["payment"], timeout=120)
    books = assert_books(live)  # settles once payment handled its backlog: order.created and order.cancelled
    assert books.count("CANCELLED") == 5
    # payment did see the orders late, so "nothing charged" is its doing, not its absence
    assert count(live, "payment", "SELECT count(*) FROM inbox WHERE topic = 'order.created'") >= 5
    for ident, _ in results:
        assert all(status != "AUTHORIZED" for status, _ in books.payments.get(uuid.UUID(ident), []))


def test_inventory_down_orders_cancelled_and_no_stock_held(live: Shop) -> None:
    live.system.stop("inventory")

    async def scenario() -> list[tuple[str, str]]:
        async with httpx.AsyncClient(timeout=30) as client:
            idents = await asyncio.gather(*(place(client, live, order_body(live)) for _ in range(5)))
            return [(i, await final_status(client, live, i, timeout=120)) for i in idents]

    results = asyncio.run(scenario())
    assert [status for _, status in results] == ["CANCELLED"] * 5  # reserve_inventory timed out
    live.system.start("inventory")
    live.system.wait_ready(["inventory"], timeout=120)
    books = assert_books(live)
    assert books.count("CANCELLED") == 5
    # inventory did see the orders late (order.created reaches it whatever the payment did)
    assert count(live, "inventory", "SELECT count(*) FROM inbox WHERE topic = 'order.created'") >= 5
    for ident, _ in results:
        assert "RESERVED" not in books.reservations.get(uuid.UUID(ident), [])
        # the payment the first step took was given back
        assert [s for s, _ in books.payments.get(uuid.UUID(ident), [])] in ([], ["FAILED"], ["REFUNDED"])


def _metric(text: str, name: str, service: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f'{name}{{service="{service}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_ten_second_broker_outage_not_ready_within_seconds_and_nothing_lost(live: Shop) -> None:
    outage = 10.0
    # Readiness drops about a second after the broker goes (docs/runtime.md: asked at most every 0.5 s, with a
    # 0.5 s limit), which a loaded machine stretches past 2 s at times: 5 s is far from both that and the outage.
    noticed_within = 5.0

    async def scenario() -> tuple[list[str], dict[str, float], float]:
        loop = asyncio.get_running_loop()
        # no wait for a pooled connection: the probes below are timed by when they are asked
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=1000)) as client:
            orders: list[asyncio.Task[str]] = []
            stop_flow = asyncio.Event()

            async def steady_flow() -> None:  # five orders a second, each client on its own
                while not stop_flow.is_set():
                    orders.append(asyncio.create_task(place(client, live, order_body(live))))
                    await asyncio.sleep(0.2)

            flow = asyncio.create_task(steady_flow())
            while sum(task.done() for task in orders) < 5:  # the flow runs
                await asyncio.sleep(0.05)
            await asyncio.to_thread(live.system.stop, "nats")
            stopped = loop.time()
            not_ready: dict[str, float] = {}
            pending_seen = 0.0

            async def probe(service: str, asked: float) -> None:
                answer = await client.get(f"{live.url(service)}/health/ready")
                if answer.status_code != 200:
                    not_ready[service] = min(not_ready.get(service, outage), asked - stopped)

            async def watch_metrics() -> None:
                nonlocal pending_seen
                while loop.time() - stopped < outage:
                    metrics = await client.get(f"{live.orders}/metrics")
                    pending_seen = max(pending_seen, _metric(metrics.text, "msgen_outbox_pending", "order") or 0.0)
                    await asyncio.sleep(0.1)

            # Probes asked every tenth of a second on their own tasks, each timed by when it was asked: on a
            # loaded machine a slow answer (or a slow metrics read) must neither delay the next question nor
            # count as the time the service took to notice.
            probes: list[asyncio.Task[None]] = []
            metrics_watch = asyncio.create_task(watch_metrics())
            while loop.time() - stopped < outage:
                asked = loop.time()
                probes += [asyncio.create_task(probe(s, asked)) for s in BROKER_SERVICES if s not in not_ready]
                await asyncio.sleep(0.1)
            await asyncio.gather(*probes, metrics_watch)
            live.system.start("nats")
            await asyncio.to_thread(live.system.wait_port, "nats", 60)
            await asyncio.to_thread(live.system.wait_ready, list(BROKER_SERVICES), 120)
            restarted = len(orders)
            while sum(task.done() for task in orders[restarted:]) < 5:  # and flows again
                await asyncio.sleep(0.05)
            stop_flow.set()
            await flow
            return list(await asyncio.gather(*orders)), not_ready, pending_seen

    idents, not_ready, pending_seen = asyncio.run(scenario())
    # three separate promises: all are checked, and every broken one reported
    broken: list[str] = []
    late = {s: round(t, 2) for s, t in not_ready.items() if t > noticed_within}
    if set(not_ready) != set(BROKER_SERVICES) or late:
        never = sorted(set(BROKER_SERVICES) - set(not_ready))
        broken.append(f"readiness: not ready within {noticed_within:g} s: {never}, late: {late}")
    if pending_seen <= 0:
        broken.append("metrics: msgen_outbox_pending of order read 0 while orders waited for the broker")
    try:
        books = assert_books(live)
        # nothing lost: every accepted order is there, final, with its books right
        assert set(books.orders) == {uuid.UUID(i) for i in idents}
        assert books.count("CONFIRMED") > 0
    except AssertionError as exc:
        broken.append(f"books: {exc}")
    assert not broken, "\n".join(broken)


def test_two_hundred_orders_survive_kill_9_of_payment_twice_and_order_once(live: Shop) -> None:
    kills = {2: "payment", 5: "order", 8: "payment"}  # batch -> the service killed as it starts

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(timeout=30) as client:
            tasks: list[asyncio.Task[str]] = []
            for batch in range(10):
                started = loop.time()
                if batch in kills:
                    await asyncio.to_thread(live.system.stop, kills[batch], kill=True)
                    live.system.start(kills[batch])
                tasks += [asyncio.create_task(place(client, live, order_body(live))) for _ in range(20)]
                # a steady flow: 20 orders a second, whatever the answers
                await asyncio.sleep(max(0.0, 1.0 - (loop.time() - started)))
            return list(await asyncio.gather(*tasks))

    idents = asyncio.run(scenario())
    assert len(set(idents)) == 200
    books = assert_books(live, settle=300)
    assert set(books.orders) == {uuid.UUID(i) for i in idents}
    assert books.count("CONFIRMED") > 0


NOTIFICATION_HANDLERS = "services/notification/notification_service/handlers/events.py"
FAILING_MAIL = """

# Edited by the test: the mail provider refuses addresses at dead.test while the marker file exists.
_generated_on_order_confirmed = on_order_confirmed


async def on_order_confirmed(session, event):  # type: ignore[no-untyped-def]
    import os

    if str(event.email).endswith("@dead.test") and os.path.exists({marker!r}):
        raise RuntimeError("the mail provider refuses this address")
    await _generated_on_order_confirmed(session, event)
"""


async def _dlq_messages(broker_url: str, subject: str) -> int:
    connection = await nats.connect(broker_url, connect_timeout=10, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        js = connection.jetstream()
        total = 0
        for stream in await js.streams_info():
            assert stream.config.name is not None
            info = await js.stream_info(stream.config.name, subjects_filter=subject)
            total += (info.state.subjects or {}).get(subject, 0)
        return total
    finally:
        await connection.close()


def test_a_dead_letter_that_still_fails_replayed_twice_stays_one(prepared: Prepared, tmp_path: Path) -> None:
    marker = tmp_path / "mail-provider-refuses"
    marker.touch()
    handlers = {
        NOTIFICATION_HANDLERS: prepared.generated.files[NOTIFICATION_HANDLERS] + FAILING_MAIL.format(marker=str(marker))
    }
    with running_shop(prepared, tmp_path, handlers=handlers) as shop:
        notification = shop.url("notification")

        async def confirmed_order() -> str:
            async with httpx.AsyncClient(timeout=30) as client:
                body = {**order_body(shop), "email": "refused@dead.test"}
                ident = await place(client, shop, body)
                return await final_status(client, shop, ident, timeout=120)

        assert asyncio.run(confirmed_order()) == "CONFIRMED"
        letters: list[dict[str, Any]] = []
        deadline = time.monotonic() + 120
        while not letters and time.monotonic() < deadline:
            letters = httpx.get(
                f"{notification}/admin/dead-letters", headers=shop.admin("notification"), timeout=30
            ).json()
            time.sleep(0.1)
        assert len(letters) == 1, letters
        letter = letters[0]
        for _ in range(2):
            replayed = httpx.post(
                f"{notification}/admin/dead-letters/{letter['id']}/replay",
                headers=shop.admin("notification"),
                timeout=60,
            )
            assert replayed.status_code == 200 and replayed.json()["outcome"] == "dead-lettered", replayed.text
        after = httpx.get(f"{notification}/admin/dead-letters", headers=shop.admin("notification"), timeout=30).json()
        stored = count(shop, "notification", "SELECT count(*) FROM dead_letters")
        broker = shop.system.specs["notification"].env["BROKER_URL"]
        published = asyncio.run(_dlq_messages(broker, "order.confirmed.dlq"))
        assert (len(after), stored, published) == (1, 1, 1), (
            f"after two failed replays: {len(after)} listed, {stored} rows, {published} order.confirmed.dlq messages"
        )
        assert after[0]["id"] == letter["id"] and after[0]["message_id"] == letter["message_id"]
        assert after[0]["attempts"] > letter["attempts"], "the failed replays are not counted on the letter"
        assert_books(shop, dead_letters={"notification": 1})
        # the provider takes the address again: one more replay delivers the mail, and no letter is left
        marker.unlink()
        replayed = httpx.post(
            f"{notification}/admin/dead-letters/{letter['id']}/replay", headers=shop.admin("notification"), timeout=60
        )
        assert replayed.status_code == 200 and replayed.json()["outcome"] == "processed", replayed.text
        assert (
            httpx.get(f"{notification}/admin/dead-letters", headers=shop.admin("notification"), timeout=30).json() == []
        )
        assert_books(shop, dead_letters={"notification": 0})
