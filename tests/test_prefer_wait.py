"""`Prefer: wait=N` on the create that starts the Place Order saga: the final state in one request.

The shop runs as `msgen up` runs it (nats-server, the six services, the gateway trusting the project's dev
issuer), every request through the gateway. Its saga steps time out after an hour, so an order whose
payment service is stopped stays PENDING for the whole test. Bounds that are not under test are long
(the gateway's route timeout 300 s, the services' request deadline 600 s), so that a loaded machine does not
turn a slow saga into a 202: the answer itself says what happened (its status code, `Preference-Applied`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from msgen.localrun import LocalSystem, Options, plan, prepare_databases
from msgen.writer import write_project
from msgen_runtime.gateway.devtokens import mint
from tests.processes import CALL_TIMEOUT_FLOOR, scaled, wait_for
from tests.saga_support import shop_with_step_timeout

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_saga_system_at_a_time")]

FINAL = {"CONFIRMED", "CANCELLED"}


@dataclass
class Front:
    system: LocalSystem
    project: Path
    headers: dict[str, str]
    known: dict[str, str]

    @property
    def url(self) -> str:
        return self.system.url("gateway")

    def order(self) -> dict[str, Any]:
        return {
            "user_id": self.known["user_id"],
            "email": f"wait-{uuid.uuid4().hex[:8]}@shop.test",
            "lines": [{"product_id": self.known["product_id"], "quantity": 1, "unit_price": "5.00"}],
            "amount": "5.00",
            "currency": "EUR",
        }

    def waiting(self) -> float:
        """The order service's creates still waiting for their saga (its `msgen_prefer_waits` gauge)."""
        for line in httpx.get(f"{self.system.url('order')}/metrics", timeout=30).text.splitlines():
            if line.startswith("msgen_prefer_waits "):
                return float(line.split()[1])
        raise AssertionError("the order service reports no msgen_prefer_waits")


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    base = tmp_path_factory.mktemp("preferwait")
    generated = shop_with_step_timeout(base / "spec", "1h")
    root = base / "shop"
    write_project(root, generated.files, generated.system.spec_hash)
    options = Options(workdir=base / "run", log_level="WARNING", extra_env=CALL_TIMEOUT_FLOOR)
    specs = plan(root, options)
    for spec in specs:
        if spec.name == "gateway":
            spec.env["TIMEOUT"] = "300"
            spec.env["RATE_LIMIT_REQUESTS"] = "100000"
        elif "DATABASE_URL" in spec.env:
            spec.env["REQUEST_TIMEOUT_SECONDS"] = "600"
    prepare_databases([s for s in specs if "DATABASE_URL" in s.env], options)
    system = LocalSystem(specs, base / "run" / "logs")
    try:
        system.start_all(timeout=scaled(180))
        token = mint(
            root, scopes=("users:write", "products:write", "orders:create", "orders:read"), sub="wait", ttl="1h"
        )
        headers = {"Authorization": f"Bearer {token}"}
        url = system.url("gateway")
        user = httpx.post(f"{url}/v1/users", json={"email": "w@shop.test", "full_name": "W"}, headers=headers)
        assert user.status_code == 201, user.text
        teapot = {"sku": "TEAPOT-1", "name": "Teapot", "price": "5.00"}
        product = httpx.post(f"{url}/v1/products", json=teapot, headers=headers)
        assert product.status_code == 201, product.text
        known = {"user_id": user.json()["id"], "product_id": product.json()["id"]}
        yield Front(system, root, headers, known)
    finally:
        system.stop_all()


def _post(front: Front, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{front.url}/v1/orders", json=body, headers={**front.headers, **headers}, timeout=400)


def test_one_request_answers_with_the_final_status(front: Front) -> None:
    answer = _post(front, front.order(), Prefer="wait=200")
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert order["status"] == "CONFIRMED"
    assert answer.headers["Preference-Applied"] == "wait=200"
    assert answer.headers["Location"] == f"/v1/orders/{order['id']}"
    # the entity as a GET reads it
    read = httpx.get(f"{front.url}/v1/orders/{order['id']}", headers=front.headers, timeout=30)
    assert read.json() == order
    # the status the one answer gave is the stream's last one
    with httpx.stream("GET", f"{front.url}/v1/orders/{order['id']}/events", headers=front.headers) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith("data:")]
    assert '"CONFIRMED"' in lines[-1]


def test_without_the_header_nothing_changes(front: Front) -> None:
    answer = _post(front, front.order())
    assert answer.status_code == 202, answer.text
    assert set(answer.json()) == {"id", "status_url"}
    assert "Preference-Applied" not in answer.headers


def test_a_replay_with_the_same_key_answers_the_same_order(front: Front) -> None:
    body, key = front.order(), str(uuid.uuid4())
    first = _post(front, body, Prefer="wait=200", **{"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    again = _post(front, body, Prefer="wait=200", **{"Idempotency-Key": key})
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    plain = _post(front, body, **{"Idempotency-Key": key})  # without the header: the stored 202, as before
    assert plain.status_code == 202, plain.text
    assert plain.headers["Idempotent-Replayed"] == "true"
    assert plain.json()["id"] == first.json()["id"]
    orders = httpx.get(f"{front.url}/v1/orders", params={"limit": 200}, headers=front.headers, timeout=30).json()
    assert sum(1 for o in orders["items"] if o["email"] == body["email"]) == 1


def test_a_saga_that_cannot_finish_answers_202_once_the_wait_is_over(front: Front) -> None:
    front.system.stop("payment")
    try:
        body, key = front.order(), str(uuid.uuid4())
        answer = _post(front, body, Prefer="wait=1", **{"Idempotency-Key": key})
        assert answer.status_code == 202, answer.text
        assert answer.headers["Preference-Applied"] == "wait=1"
        ident = answer.json()["id"]
        assert answer.json() == {"id": ident, "status_url": f"/v1/orders/{ident}"}
        status = httpx.get(f"{front.url}/v1/orders/{ident}", headers=front.headers, timeout=30).json()["status"]
        assert status not in FINAL
        replay = _post(front, body, Prefer="wait=1", **{"Idempotency-Key": key})
        assert replay.status_code == 202, replay.text
        assert replay.json()["id"] == ident
        assert replay.headers["Preference-Applied"] == "wait=1"
    finally:
        front.system.start("payment")
        front.system.wait_ready(["payment"], timeout=scaled(120))


def test_a_client_that_leaves_leaves_no_waiter(front: Front) -> None:
    front.system.stop("payment")
    try:

        async def leave() -> None:
            async with httpx.AsyncClient(timeout=400) as client:
                placing = asyncio.create_task(
                    client.post(
                        f"{front.url}/v1/orders", json=front.order(), headers={**front.headers, "Prefer": "wait=290"}
                    )
                )
                loop = asyncio.get_running_loop()
                deadline = loop.time() + scaled(60)
                while await asyncio.to_thread(front.waiting) < 1:  # the service is waiting for the saga
                    assert not placing.done(), placing.result().text
                    assert loop.time() < deadline, "the order service never waited"
                    await asyncio.sleep(0.1)
                placing.cancel()  # the client leaves: its connection to the gateway is closed
                with pytest.raises(asyncio.CancelledError):
                    await placing

        assert front.waiting() == 0
        asyncio.run(leave())
        # the gateway cancels its request to the service, which ends the wait (else it lasts 290 s)
        wait_for(lambda: front.waiting() == 0, timeout=30, what="the order service's waiter to end")
    finally:
        front.system.start("payment")
        front.system.wait_ready(["payment"], timeout=scaled(120))
