"""The front door of a running shop: the generated gateway under the local run, with real tokens.

The system runs as real processes (nats-server from the wheel, six services,
the gateway); tokens come from the project's dev issuer (`msgen token`) or are
forged here to be refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from msgen.generate import Generated
from msgen.localrun import LocalSystem, Options, ProcessSpec, free_port, plan, prepare_databases
from msgen.writer import write_project
from msgen_runtime.gateway.devtokens import mint
from tests.processes import CALL_TIMEOUT_FLOOR

pytestmark = pytest.mark.slow
TIMEOUT = 30  # seconds for an answer through the gateway: far from what a loaded machine takes (httpx's 5 s is not)


@dataclass
class Front:
    system: LocalSystem
    project: Path

    @property
    def url(self) -> str:
        return self.system.url("gateway")

    def token(self, *scopes: str, ttl: str = "10m", sub: str = "u-1") -> str:
        return mint(self.project, scopes=scopes, sub=sub, ttl=ttl)


@pytest.fixture(scope="module")
def front(shop: Generated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    root = tmp_path_factory.mktemp("front") / "shop"
    write_project(root, shop.files, shop.system.spec_hash)
    options = Options(workdir=root.parent / "run", log_level="WARNING", extra_env=CALL_TIMEOUT_FLOOR)
    specs = plan(root, options)
    assert "gateway" in {s.name for s in specs}
    for spec in specs:
        if spec.name == "gateway":
            # a long proxy timeout, so that "a quick 503" below is told from a hang by a bound far from both
            spec.env["TIMEOUT"] = "60"
    specs.append(_strict_gateway(next(s for s in specs if s.name == "gateway")))
    prepare_databases(specs, options)
    system = LocalSystem(specs, root.parent / "run" / "logs")
    try:
        system.start_all()
        yield Front(system=system, project=root)
    finally:
        system.stop_all()


def _strict_gateway(gateway: ProcessSpec) -> ProcessSpec:
    """A second gateway in front of the same services, allowing the shop's 100 requests an hour instead of a second.

    Whether 150 requests fall within one second depends on the machine; within one hour they always do.
    """
    port = free_port()
    args = list(gateway.args)
    args[args.index("--port") + 1] = str(port)
    return replace(
        gateway,
        name="strict-gateway",
        args=args,
        env={**gateway.env, "RATE_LIMIT_PERIOD": "3600"},
        ready_url=f"http://127.0.0.1:{port}/health/ready",
        port=port,
    )


@pytest.fixture(scope="module")
def known(front: Front) -> dict[str, str]:
    """A user and a product that exist, for orders to refer to."""
    auth = {"Authorization": f"Bearer {front.token('users:write', 'products:write')}"}
    user = httpx.post(
        f"{front.url}/v1/users", json={"email": "front@shop.test", "full_name": "Front"}, headers=auth, timeout=TIMEOUT
    )
    assert user.status_code == 201, user.text
    teapot = {"sku": "TEAPOT-1", "name": "Teapot", "price": "5.00"}
    product = httpx.post(f"{front.url}/v1/products", json=teapot, headers=auth, timeout=TIMEOUT)
    assert product.status_code == 201, product.text
    return {"user_id": user.json()["id"], "product_id": product.json()["id"]}


def _order(known: dict[str, str] | None = None, **refs: str) -> dict[str, object]:
    ids = {"user_id": "0b7e8a8e-1c1f-4b5e-9a44-2c1de8d1f0aa", "product_id": "7f1c4a52-8f9e-4a59-9d1c-2b8c1f0e7a12"}
    ids.update(known or {}, **refs)
    return {
        "user_id": ids["user_id"],
        "email": "front@shop.test",
        "lines": [{"product_id": ids["product_id"], "quantity": 1, "unit_price": "5.00"}],
        "amount": "5.00",
        "currency": "EUR",
    }


def _problem(answer: httpx.Response, status: int) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    return dict(answer.json())


def test_an_order_with_a_valid_token_is_confirmed(front: Front, known: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {front.token('orders:create', 'orders:read')}"}
    placed = httpx.post(f"{front.url}/v1/orders", json=_order(known), headers=auth, timeout=TIMEOUT)
    assert placed.status_code == 202, placed.text
    ident = placed.json()["id"]
    # the saga takes its time on a loaded machine: polled until a generous deadline, not a number of polls
    deadline = time.monotonic() + 120
    status = None
    while time.monotonic() < deadline:
        status = httpx.get(f"{front.url}/v1/orders/{ident}", headers=auth, timeout=TIMEOUT).json()["status"]
        if status == "CONFIRMED":
            break
        time.sleep(0.1)
    assert status == "CONFIRMED"


def test_no_token_is_401_and_a_missing_scope_403(front: Front) -> None:
    missing = _problem(httpx.post(f"{front.url}/v1/orders", json=_order(), timeout=TIMEOUT), 401)
    assert missing["status"] == 401
    wrong = httpx.post(
        f"{front.url}/v1/orders",
        json=_order(),
        headers={"Authorization": f"Bearer {front.token('orders:read')}"},
        timeout=TIMEOUT,
    )
    _problem(wrong, 403)
    assert "insufficient_scope" in wrong.headers["www-authenticate"]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_expired_foreign_and_unsigned_tokens_are_401(front: Front) -> None:
    good = front.token("orders:create")
    claims = jwt.decode(good, options={"verify_signature": False})
    an_hour_ago = int(time.time()) - 3600
    expired = mint(
        front.project,
        scopes=["orders:create"],
        claims={"iat": an_hour_ago - 60, "nbf": an_hour_ago - 60, "exp": an_hour_ago},
    )
    foreign_key = ec.generate_private_key(ec.SECP256R1())
    foreign = jwt.encode(
        claims, foreign_key, algorithm="ES256", headers={"kid": jwt.get_unverified_header(good)["kid"]}
    )
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    for token in (expired, foreign, unsigned, "not-a-jwt"):
        answer = httpx.post(
            f"{front.url}/v1/orders", json=_order(), headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        )
        _problem(answer, 401)
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_exceeding_the_rate_limit_is_429_with_retry_after(front: Front) -> None:
    auth = {"Authorization": f"Bearer {front.token('products:write', sub='greedy')}"}
    url = front.system.url("strict-gateway")

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50)) as client:
            return await asyncio.gather(*(client.get(f"{url}/v1/products", headers=auth) for _ in range(150)))

    answers = asyncio.run(burst())
    statuses = [answer.status_code for answer in answers]
    # 100 requests an hour per token: the first 100 pass, whatever the machine's speed, and the rest are refused
    assert statuses.count(200) == 100, statuses
    assert statuses.count(429) == 50, statuses
    for answer in answers:
        if answer.status_code == 429:
            _problem(answer, 429)
            assert 0 < int(answer.headers["retry-after"]) <= 3600
    # counted per token: another caller is not refused for the greedy one
    other = httpx.get(
        f"{url}/v1/products", headers={"Authorization": f"Bearer {front.token('products:write')}"}, timeout=TIMEOUT
    )
    assert other.status_code == 200


def test_an_upstream_that_is_down_is_a_quick_503_then_recovers(front: Front) -> None:
    front.system.stop("product")
    try:
        started = time.monotonic()
        answer = httpx.get(f"{front.url}/v1/products", timeout=60)
        _problem(answer, 503)
        # refused at once, not held for the gateway's 60 s timeout: a bound a loaded machine cannot reach
        assert time.monotonic() - started < 10
    finally:
        front.system.start("product")
        front.system.wait_ready(["product"])
    deadline = time.monotonic() + 60  # the gateway's breaker lets a trial through after its recovery time
    while time.monotonic() < deadline:
        if httpx.get(f"{front.url}/v1/products", timeout=TIMEOUT).status_code == 200:
            break
        time.sleep(0.2)
    assert httpx.get(f"{front.url}/v1/products", timeout=TIMEOUT).status_code == 200


def test_an_order_for_a_product_or_user_that_does_not_exist_is_422_and_nothing_is_placed(
    front: Front, known: dict[str, str]
) -> None:
    """The default create asks the product and user services (the order service's declared calls)."""
    auth = {"Authorization": f"Bearer {front.token('orders:create', 'orders:read')}"}
    nobody = "3f0c1d9e-0000-4000-8000-00000000beef"
    before = httpx.get(f"{front.url}/v1/orders", headers=auth, timeout=TIMEOUT).json()["total"]
    no_product = _problem(
        httpx.post(f"{front.url}/v1/orders", json=_order(known, product_id=nobody), headers=auth, timeout=TIMEOUT), 422
    )
    assert [error["loc"] for error in no_product["errors"]] == [["body", "lines", "0", "product_id"]]  # type: ignore[attr-defined]
    assert "lines.0.product_id" in str(no_product["detail"])
    no_user = _problem(
        httpx.post(f"{front.url}/v1/orders", json=_order(known, user_id=nobody), headers=auth, timeout=TIMEOUT), 422
    )
    assert [error["loc"] for error in no_user["errors"]] == [["body", "user_id"]]  # type: ignore[attr-defined]
    assert httpx.get(f"{front.url}/v1/orders", headers=auth, timeout=TIMEOUT).json()["total"] == before


def test_an_order_while_the_product_service_is_down_is_503_not_placed_unchecked(
    front: Front, known: dict[str, str]
) -> None:
    """The order service keeps a product it checked for the spec's `cache_ttl` (60 s); one it has not
    checked yet must be asked, and with the product service down the order is refused, not written."""
    writer = {"Authorization": f"Bearer {front.token('products:write')}"}
    kettle = {"sku": "KETTLE-1", "name": "Kettle", "price": "5.00"}
    product = httpx.post(f"{front.url}/v1/products", json=kettle, headers=writer, timeout=TIMEOUT)
    assert product.status_code == 201, product.text
    auth = {"Authorization": f"Bearer {front.token('orders:create', 'orders:read')}"}
    before = httpx.get(f"{front.url}/v1/orders", headers=auth, timeout=TIMEOUT).json()["total"]
    front.system.stop("product")
    try:
        unchecked = _order(known, product_id=product.json()["id"])
        answer = httpx.post(f"{front.url}/v1/orders", json=unchecked, headers=auth, timeout=30)
        problem = _problem(answer, 503)
        assert "product" in str(problem["detail"])
    finally:
        front.system.start("product")
        front.system.wait_ready(["product"])
    assert httpx.get(f"{front.url}/v1/orders", headers=auth, timeout=TIMEOUT).json()["total"] == before
