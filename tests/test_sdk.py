"""The shop's SDKs against the running system, through a proxy that injects faults.

`msgen sdk` generates their calls (openapi-python-client in its virtualenv, openapi-typescript
from npm, both under .cache/sdk-tools); the system runs as real processes as `msgen up` starts
them; the fault proxy (tests/sdk_support.py) stands in front of the gateway. The TypeScript SDK
is built with tsc (strict) and driven by Node's own test runner (tests/sdk_typescript/).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from filelock import FileLock

from msgen.generate import Generated
from msgen.localrun import LocalSystem, Options, plan, prepare_databases
from msgen.writer import write_project
from msgen_runtime.gateway.devtokens import mint
from tests import processes
from tests.conftest import MACHINE_SDK_TOOLS
from tests.regen_support import SMALL_SPEC, edit_spec
from tests.sdk_support import Fault, FaultProxy, fault_proxy

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# The generators and npm packages, per machine (installing them takes about two minutes): where
# MSGEN_SDK_TOOLS said when the tests started, else where msgen keeps them by default.
TOOLS = MACHINE_SDK_TOOLS
SCOPES = ("orders:create", "orders:read", "products:write", "products:read", "users:write")


@dataclass
class Shop:
    project: Path
    gateway: str
    proxy: FaultProxy
    sdk: ModuleType
    refs: dict[str, str]  # a user and a product that exist: an order's references are checked

    def token(self) -> str:
        return mint(self.project, scopes=SCOPES, sub="sdk-user", ttl="30m")

    def module(self, name: str) -> Any:
        return importlib.import_module(f"shop_sdk.{name}")

    @property
    def typescript(self) -> Path:
        return self.project / "sdk" / "typescript"


def tools_lock() -> FileLock:
    """Held while the machine's tools folder may be written: the generators (msgen sdk) and the npm packages
    are installed there on first use, and the suite's workers (this file and tests/test_sdk_pact.py) must
    not install them at the same time."""
    TOOLS.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(TOOLS.parent / f"{TOOLS.name}.lock")


def _sdk(root: Path) -> None:
    with tools_lock():
        done = processes.run(
            [sys.executable, "-m", "msgen", "sdk", root],
            timeout=900,
            env={**os.environ, "MSGEN_SDK_TOOLS": str(TOOLS)},
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "sdk/python/shop_sdk/generated/api/order/place_order.py").is_file()
    assert "/v1/orders" in (root / "sdk/typescript/src/schema.ts").read_text()
    # the generator's formatting leaves no cache in the SDK, nor in the list of its generated files
    generated = root / "sdk/python/shop_sdk/generated"
    assert not list(generated.rglob(".ruff_cache"))
    assert ".ruff_cache" not in (generated / ".generated-files").read_text()


def _node_modules(package: Path) -> None:
    """The TypeScript SDK's npm packages, installed once per set of versions under .cache/ and linked in."""
    manifest = json.loads((package / "package.json").read_text())
    wanted = {k: manifest[k] for k in ("dependencies", "devDependencies")}
    key = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]
    home = TOOLS / f"npm-{key}"
    with tools_lock():
        if not (home / "node_modules" / ".bin" / "tsc").is_file():
            home.mkdir(parents=True, exist_ok=True)
            (home / "package.json").write_text(json.dumps({"name": "sdk-deps", "private": True, **wanted}))
            npm = shutil.which("npm")
            assert npm is not None, "npm is needed for the TypeScript SDK tests"
            done = processes.run([npm, "install", "--no-audit", "--no-fund"], cwd=home, timeout=600)
            assert done.returncode == 0, done.stdout + done.stderr
    (package / "node_modules").symlink_to(home / "node_modules", target_is_directory=True)


@pytest.fixture(scope="module")
def shop_run(shop: Generated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    root = tmp_path_factory.mktemp("sdk") / "shop"
    write_project(root, shop.files, shop.system.spec_hash)
    _sdk(root)
    options = Options(workdir=root.parent / "run", log_level="WARNING", extra_env=processes.CALL_TIMEOUT_FLOOR)
    specs = plan(root, options)
    prepare_databases(specs, options)
    system = LocalSystem(specs, root.parent / "run" / "logs")
    sys.path.insert(0, str(root / "sdk" / "python"))
    try:
        system.start_all(timeout=180)  # generous: a loaded machine starts seven processes slowly
        with fault_proxy(system.url("gateway")) as proxy:
            shop = Shop(root, system.url("gateway"), proxy, importlib.import_module("shop_sdk"), {})
            shop.refs = _known(shop)
            yield shop
    finally:
        system.stop_all()
        sys.path.remove(str(root / "sdk" / "python"))
        for name in [n for n in sys.modules if n == "shop_sdk" or n.startswith("shop_sdk.")]:
            del sys.modules[name]


def _known(shop: Shop) -> dict[str, str]:
    """A user and a product, created through the gateway, for orders to refer to."""
    auth = {"Authorization": f"Bearer {shop.token()}"}
    user = httpx.post(
        f"{shop.gateway}/v1/users", json={"email": "sdk@shop.test", "full_name": "Sdk"}, headers=auth, timeout=30
    )
    assert user.status_code == 201, user.text
    teapot = {"sku": "SDK-TEAPOT", "name": "Teapot", "price": "5.00"}
    product = httpx.post(f"{shop.gateway}/v1/products", json=teapot, headers=auth, timeout=30)
    assert product.status_code == 201, product.text
    return {"user_id": user.json()["id"], "product_id": product.json()["id"]}


def _order(shop: Shop) -> Any:
    models = shop.module("generated.models")
    return models.OrderCreate.from_dict(
        {
            "user_id": shop.refs["user_id"],
            "email": "sdk@shop.test",
            "lines": [{"product_id": shop.refs["product_id"], "quantity": 1, "unit_price": "5.00"}],
            "amount": "5.00",
            "currency": "EUR",
        }
    )


def _orders(shop: Shop) -> int:
    answer = httpx.get(f"{shop.gateway}/v1/orders", headers={"Authorization": f"Bearer {shop.token()}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["total"])


def test_the_sdk_passes_mypy_strict(shop_run: Shop) -> None:
    done = processes.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "shop_sdk"],
        cwd=shop_run.project / "sdk" / "python",
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_typescript_sdk_builds_with_tsc_strict(shop_run: Shop) -> None:
    _node_modules(shop_run.typescript)
    tsconfig = json.loads((shop_run.typescript / "tsconfig.json").read_text())
    assert tsconfig["compilerOptions"]["strict"] is True
    done = processes.run(
        [shop_run.typescript / "node_modules" / ".bin" / "tsc", "-p", "."], cwd=shop_run.typescript, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (shop_run.typescript / "dist" / "index.js").is_file()


def test_the_typescript_sdk_against_the_system(shop_run: Shop) -> None:
    entry = shop_run.typescript / "dist" / "index.js"
    if not entry.is_file():
        test_the_typescript_sdk_builds_with_tsc_strict(shop_run)
    node = shutil.which("node")
    assert node is not None, "node is needed for the TypeScript SDK tests"
    done = processes.run(
        [node, "--test", REPO / "tests" / "sdk_typescript" / "sdk.test.mjs"],
        env={
            **os.environ,
            "SDK_ENTRY": entry.as_uri(),
            "SDK_PROXY": shop_run.proxy.url,
            "SDK_GATEWAY": shop_run.gateway,
            "SDK_TOKEN": shop_run.token(),
            "SDK_USER_ID": shop_run.refs["user_id"],
            "SDK_PRODUCT_ID": shop_run.refs["product_id"],
        },
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "# pass 5" in done.stdout and "# fail 0" in done.stdout, done.stdout[-3000:]


def test_an_order_placed_with_the_sdk_is_followed_to_confirmed(shop_run: Shop) -> None:
    place_order = shop_run.module("generated.api.order.place_order")
    tokens: list[str] = []

    def token() -> str:
        tokens.append(shop_run.token())
        return tokens[-1]

    with shop_run.sdk.Sdk(shop_run.proxy.url, token=token) as sdk:
        answer = sdk.call(place_order.sync_detailed, client=sdk.client, body=_order(shop_run))
        assert answer.status == 202
        sent = shop_run.proxy.requests("POST", "/v1/orders")[-1]
        assert answer.correlation_id == sent.headers["x-correlation-id"]
        assert sent.headers["authorization"] == f"Bearer {tokens[0]}"
        assert sent.headers["idempotency-key"]  # placeOrder is idempotent: the SDK gave it a key
        statuses: list[str] = []
        assert sdk.follow(answer.value.status_url, on_status=statuses.append) == "CONFIRMED"
        assert statuses[-1] == "CONFIRMED" and statuses[0] == "PENDING_PAYMENT"
        stream = f"{answer.value.status_url}/events"
        assert [s.answered for s in shop_run.proxy.requests("GET", stream)] == [200]  # followed over SSE
        # Without the stream (or when it breaks), the helper polls the status.
        assert sdk.follow(answer.value.status_url, stream=False) == "CONFIRMED"
        assert shop_run.proxy.requests("GET", answer.value.status_url)


def test_an_order_placed_with_prefer_wait_is_settled_from_its_answer(shop_run: Shop) -> None:
    """`prefer=PREFER_WAIT`: 201 with the order in its final status, and `settle` reads it from that answer
    (no stream); a 202 (placed without it) is settled over the stream."""
    place_order = shop_run.module("generated.api.order.place_order")
    with shop_run.sdk.Sdk(shop_run.proxy.url, token=shop_run.token) as sdk:
        answer = sdk.call(
            place_order.sync_detailed, client=sdk.client, body=_order(shop_run), prefer=shop_run.sdk.PREFER_WAIT
        )
        assert shop_run.proxy.requests("POST", "/v1/orders")[-1].headers["prefer"] == "wait=10"
        assert answer.headers["preference-applied"].startswith("wait=")
        statuses: list[str] = []
        assert sdk.settle(answer, on_status=statuses.append) == "CONFIRMED"
        if answer.status == 201:  # the saga ended within the wait (else 202, followed over the stream)
            assert type(answer.value).__name__ == "OrderRead" and answer.value.status == "CONFIRMED"
            assert statuses == ["CONFIRMED"]
            assert not shop_run.proxy.requests("GET", f"/v1/orders/{answer.value.id}/events")
        else:
            assert answer.status == 202
        plain = sdk.call(place_order.sync_detailed, client=sdk.client, body=_order(shop_run))
        assert plain.status == 202 and "preference-applied" not in plain.headers
        assert sdk.settle(plain) == "CONFIRMED"
        assert shop_run.proxy.requests("GET", f"{plain.value.status_url}/events")


def test_retries_keep_the_key_and_the_correlation_id_and_make_one_order(shop_run: Shop) -> None:
    place_order = shop_run.module("generated.api.order.place_order")
    before = _orders(shop_run)
    # The first attempt reaches the gateway, but its answer is lost (503); the second is rate limited.
    shop_run.proxy.inject(
        Fault("POST", "/v1/orders", 503, retry_after="0", forward=True),
        Fault("POST", "/v1/orders", 429, retry_after="1"),
    )
    count = len(shop_run.proxy.requests("POST", "/v1/orders"))
    with shop_run.sdk.Sdk(shop_run.proxy.url, token=shop_run.token) as sdk:
        answer = sdk.call(place_order.sync_detailed, client=sdk.client, body=_order(shop_run))
    attempts = shop_run.proxy.requests("POST", "/v1/orders")[count:]
    assert [a.answered for a in attempts] == [503, 429, 202]
    assert len({a.headers["idempotency-key"] for a in attempts}) == 1
    assert {a.headers["x-correlation-id"] for a in attempts} == {answer.correlation_id}
    assert attempts[2].at - attempts[1].at >= 1.0  # Retry-After: 1 was waited for
    assert answer.status == 202
    assert _orders(shop_run) == before + 1  # the retry was replayed, not placed again
    with shop_run.sdk.Sdk(shop_run.proxy.url, token=shop_run.token) as sdk:
        assert sdk.follow(answer.value.status_url) == "CONFIRMED"


def test_a_post_that_is_not_idempotent_is_never_retried(shop_run: Shop) -> None:
    create_product = shop_run.module("generated.api.product.create_product")
    models = shop_run.module("generated.models")
    shop_run.proxy.inject(Fault("POST", "/v1/products", 503, retry_after="0"))
    count = len(shop_run.proxy.requests("POST", "/v1/products"))
    body = models.ProductCreate.from_dict({"sku": "SDK-1", "name": "A kettle", "price": "12.50"})
    with shop_run.sdk.Sdk(shop_run.proxy.url, token=shop_run.token) as sdk:
        with pytest.raises(shop_run.sdk.ProblemError) as caught:
            sdk.call(create_product.sync_detailed, client=sdk.client, body=body)
        attempts = shop_run.proxy.requests("POST", "/v1/products")[count:]
        assert len(attempts) == 1
        assert "idempotency-key" not in attempts[0].headers
        assert caught.value.status == 503
        assert caught.value.correlation_id == attempts[0].headers["x-correlation-id"]
        # Without the fault it goes through, once.
        created = sdk.call(create_product.sync_detailed, client=sdk.client, body=body)
        assert created.status == 201 and created.value.sku == "SDK-1"


def test_problem_answers_are_typed_errors(shop_run: Shop) -> None:
    list_orders = shop_run.module("generated.api.order.list_orders")
    get_order = shop_run.module("generated.api.order.get_order")
    with shop_run.sdk.Sdk(shop_run.proxy.url) as sdk:  # no token provider
        with pytest.raises(shop_run.sdk.ProblemError) as caught:
            sdk.call(list_orders.sync_detailed, client=sdk.client)
        assert caught.value.status == 401
        assert caught.value.correlation_id
    with shop_run.sdk.Sdk(shop_run.proxy.url, token=shop_run.token) as sdk:
        with pytest.raises(shop_run.sdk.ProblemError) as caught:
            sdk.call(get_order.sync_detailed, "00000000-0000-4000-8000-000000000009", client=sdk.client)
        assert caught.value.status == 404
        assert caught.value.title
        # A read is retried: two injected 503s, then the answer.
        shop_run.proxy.inject(Fault("GET", "/v1/orders", 503), Fault("GET", "/v1/orders", 503))
        count = len(shop_run.proxy.requests("GET", "/v1/orders"))
        page = sdk.call(list_orders.sync_detailed, client=sdk.client)
        assert page.status == 200
        attempts = shop_run.proxy.requests("GET", "/v1/orders")[count:]
        assert [a.answered for a in attempts] == [503, 503, 200]
        assert len({a.headers["x-correlation-id"] for a in attempts}) == 1


def test_async_calls_go_through_the_same_layer(shop_run: Shop) -> None:
    list_orders = shop_run.module("generated.api.order.list_orders")

    async def run() -> Any:
        sdk = shop_run.sdk.Sdk(shop_run.proxy.url, token=shop_run.token)
        try:
            return await sdk.acall(list_orders.asyncio_detailed, client=sdk.client)
        finally:
            await sdk.aclose()

    shop_run.proxy.inject(Fault("GET", "/v1/orders", 503, retry_after="0"))
    count = len(shop_run.proxy.requests("GET", "/v1/orders"))
    page = asyncio.run(run())
    attempts = shop_run.proxy.requests("GET", "/v1/orders")[count:]
    assert [a.answered for a in attempts] == [503, 200]
    assert {a.headers["x-correlation-id"] for a in attempts} == {page.correlation_id}
    assert attempts[0].headers["authorization"].startswith("Bearer ")
    assert page.value.total >= 0


def test_new_and_regen_keep_the_generated_calls_in_step(tmp_path: Path) -> None:
    env = {**os.environ, "MSGEN_SDK_TOOLS": str(TOOLS), "COLUMNS": "200"}

    def run(*args: str) -> str:
        with tools_lock():  # `msgen new` and `regen` install the generators when they are missing
            done = processes.run([sys.executable, "-m", "msgen", *args], env=env, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    spec = tmp_path / "mini.yaml"
    spec.write_text(SMALL_SPEC)
    root = tmp_path / "mini"
    created = run("new", str(spec), "-o", str(root))
    generated = root / "sdk/python/mini_sdk/generated"
    if "come from msgen sdk" in created:
        run("sdk", str(root))  # a generator was not installed yet: msgen sdk installs it
    assert "colour" not in (generated / "models/item_read.py").read_text()
    client = root / "sdk/python/mini_sdk/client.py"
    client.write_text(client.read_text() + "\n# a hand edit\n")
    edit_spec(
        root,
        "          note: { type: text, required: false }\n",
        "          note: { type: text, required: false }\n          colour: { type: string, max_length: 20, required: false }\n",
    )
    regenerated = run("regen", str(root))
    assert "SDK python: " in regenerated
    assert "colour" in (generated / "models/item_read.py").read_text()
    assert "colour" in (root / "sdk/typescript/src/schema.ts").read_text()
    assert client.read_text().endswith("# a hand edit\n")
