"""The generated system fails closed: no issuer, no caller credential, no admin token means no entry.

The gateway and the services run as real uvicorn processes of a generated shop;
the in-process tests cover what the runtime does between them (the credential
a service's clients send, /docs by settings).
"""

from __future__ import annotations

import contextvars
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request

from msgen.generate import Generated
from msgen.localrun import free_port, local_admin_token
from msgen.writer import write_project
from msgen_runtime import callers
from msgen_runtime.app import create_service_app
from msgen_runtime.callers import HEADER, InsecureConfiguration, InternalAuth
from msgen_runtime.gateway.app import build_verifier, check_secure
from msgen_runtime.gateway.devtokens import mint
from msgen_runtime.gateway.settings import GatewaySettings
from msgen_runtime.http import ServiceClient
from msgen_runtime.problems import Problem
from msgen_runtime.settings import ServiceSettings
from msgen_runtime.testing import nats_server, serve_app
from tests.processes import run, scaled

SECRET = "fail-closed-test-secret-0123456789abcdefgh"
PROBLEM = "application/problem+json"
USER = {"email": "someone@example.com", "full_name": "Example", "active": True}
# Settings a developer's shell may carry that would change what these processes do.
_SCRUBBED = ("MSGEN_DEV_MODE", "DEV_MODE", "INTERNAL_AUTH_SECRET", "ADMIN_TOKEN", "DEV_ISSUER_ENABLED")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def project(shop: Generated, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("failclosed") / "shop"
    write_project(root, shop.files, shop.system.spec_hash)
    return root


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SCRUBBED and not k.upper().startswith("OIDC_")}
    return {**env, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO", **values}


def _uvicorn(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port)]


@contextmanager
def running(args: list[str], cwd: Path, env: dict[str, str], log: Path, port: int) -> Iterator[str]:
    """A process in its own group, until /health/live answers; ended (the whole group) afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + scaled(60)
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _migrate(service_dir: Path, database_url: str) -> None:
    done = run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=service_dir,
        env=_env(DATABASE_URL=database_url),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"OIDC_ISSUER": "", "INTERNAL_AUTH_SECRET": SECRET}, "no token issuer: set OIDC_ISSUER"),
        ({"OIDC_ISSUER": "urn:example:idp", "OIDC_JWKS_URL": "", "INTERNAL_AUTH_SECRET": SECRET}, "no JWKS"),
        ({}, "no INTERNAL_AUTH_SECRET"),
        ({"OIDC_AUDIENCE": "", "INTERNAL_AUTH_SECRET": SECRET}, "no OIDC_AUDIENCE"),
        ({"OIDC_JWKS_URL": "http://idp.example/jwks", "INTERNAL_AUTH_SECRET": SECRET}, "OIDC_JWKS_URL is plain http"),
        (
            {"OIDC_ISSUER": "http://idp.example/", "OIDC_JWKS_URL": "", "INTERNAL_AUTH_SECRET": SECRET},
            "OIDC_ISSUER (discovery) is plain http",
        ),
        (
            {"OIDC_ISSUER": "", "DEV_ISSUER_ENABLED": "true", "INTERNAL_AUTH_SECRET": SECRET},
            "the dev issuer is trusted in dev mode only",
        ),
    ],
    ids=[
        "empty-issuer",
        "no-jwks",
        "no-internal-secret",
        "no-audience",
        "http-jwks",
        "http-discovery",
        "dev-issuer-outside-dev-mode",
    ],
)
def test_the_gateway_refuses_to_start_open(project: Path, settings: dict[str, str], reason: str) -> None:
    done = run(
        _uvicorn("gateway_app.main:create_app", free_port()),
        cwd=project / "gateway",
        env=_env(**settings),
        timeout=120,
    )
    assert done.returncode != 0
    assert "the gateway refuses to start" in done.stderr and reason in done.stderr, done.stderr[-3000:]


def test_the_dev_switch_lets_the_gateway_start_without_an_issuer_and_says_so(project: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "gateway.log"
    env = _env(OIDC_ISSUER="", MSGEN_DEV_MODE="1", READY_CHECKS_UPSTREAMS="false")
    with running(_uvicorn("gateway_app.main:create_app", port), project / "gateway", env, log, port) as url:
        assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 200
    text = log.read_text()
    assert "gateway.authentication_disabled" in text and "gateway.dev_mode_insecure" in text, text
    assert "gateway.dev_mode_on" in text, text


def test_a_service_in_production_settings_answers_only_the_gateways_credential(project: Path, tmp_path: Path) -> None:
    service = project / "services" / "user"
    database = f"sqlite+aiosqlite:///{tmp_path / 'user.db'}"
    _migrate(service, database)
    port, gateway_port = free_port(), free_port()
    env = _env(DATABASE_URL=database, INTERNAL_AUTH_SECRET=SECRET)
    gateway_env = _env(  # the gateway in dev mode (its dev issuer), the service in production settings
        USER_URL=f"http://127.0.0.1:{port}",
        INTERNAL_AUTH_SECRET=SECRET,
        MSGEN_DEV_MODE="1",
        DEV_ISSUER_ENABLED="true",
        READY_CHECKS_UPSTREAMS="false",
    )
    with (
        running(_uvicorn("user_service.main:create_app", port), service, env, tmp_path / "user.log", port) as url,
        running(
            _uvicorn("gateway_app.main:create_app", gateway_port),
            project / "gateway",
            gateway_env,
            tmp_path / "gateway.log",
            gateway_port,
        ) as front,
        httpx.Client(timeout=10) as http,
    ):
        # Straight to the service: nothing, a forged credential, an expired one.
        missing = http.post(f"{url}/v1/users", json=USER)
        assert missing.status_code == 401 and missing.headers["content-type"] == PROBLEM, missing.text
        assert "X-Internal-Token" in missing.json()["detail"]
        forged = InternalAuth("another-secret-0123456789abcdefghijklmnop", issuer="gateway").mint(
            "u-1", audience="user"
        )
        assert http.post(f"{url}/v1/users", json=USER, headers={HEADER: forged}).status_code == 401
        expired = InternalAuth(SECRET, issuer="gateway", ttl=-60).mint("u-1", audience="user")
        answer = http.post(f"{url}/v1/users", json=USER, headers={HEADER: expired})
        assert answer.status_code == 401 and "expired" in answer.json()["detail"]
        assert http.get(f"{url}/v1/users").status_code == 401
        # Probes and metrics stay open; the API's documentation is off in production settings.
        assert http.get(f"{url}/health/ready").status_code == 200
        assert http.get(f"{url}/metrics").status_code == 200
        assert http.get(f"{url}/docs").status_code == 404
        assert http.get(f"{url}/openapi.json").status_code == 404
        # With the credential the gateway makes (same secret), the service answers.
        good = InternalAuth(SECRET, issuer="gateway").mint("u-1", audience="user")
        assert http.post(f"{url}/v1/users", json=USER, headers={HEADER: good}).status_code == 201
        # Through the gateway: a user's token in, the gateway's credential on to the service.
        token = mint(project, ["users:write", "users:read"], sub="u-2")
        created = http.post(
            f"{front}/v1/users",
            json={**USER, "email": "other@example.com"},
            headers={"Authorization": f"Bearer {token}", HEADER: "forged-by-the-client"},
        )
        assert created.status_code == 201, created.text
        assert http.post(f"{front}/v1/users", json=USER).status_code == 401  # no user token: the gateway refuses


def test_an_idempotency_key_belongs_to_the_caller_who_sent_it(project: Path, tmp_path: Path) -> None:
    """Two users who happen to send the same key get their own answers: never the other's, nor a 422 that tells."""
    service = project / "services" / "payment"
    database = f"sqlite+aiosqlite:///{tmp_path / 'payment.db'}"
    _migrate(service, database)
    port = free_port()
    env = _env(DATABASE_URL=database, INTERNAL_AUTH_SECRET=SECRET, MESSAGING_ENABLED="false")
    with (
        running(_uvicorn("payment_service.main:create_app", port), service, env, tmp_path / "payment.log", port) as url,
        httpx.Client(timeout=10) as http,
    ):
        gateway = InternalAuth(SECRET, issuer="gateway")

        def charge(user: str, order: str) -> httpx.Response:
            headers = {HEADER: gateway.mint(user, audience="payment"), "Idempotency-Key": "same-key-1"}
            return http.post(f"{url}/v1/payments", json={"order_id": order, "amount": "9.99"}, headers=headers)

        first_order, second_order = str(uuid.uuid4()), str(uuid.uuid4())
        first = charge("u-1", first_order)
        assert first.status_code == 201, first.text
        replayed = charge("u-1", first_order)  # the same user retrying: the first answer again
        assert replayed.status_code == 201 and replayed.json()["id"] == first.json()["id"]
        assert replayed.headers.get("Idempotent-Replayed") == "true"
        other = charge("u-2", second_order)  # another user, the same key, another body
        assert other.status_code == 201, other.text
        assert other.json()["id"] != first.json()["id"] and other.json()["order_id"] == second_order
        assert "Idempotent-Replayed" not in other.headers


def test_a_service_with_no_secret_in_production_settings_answers_no_api_call(project: Path, tmp_path: Path) -> None:
    service = project / "services" / "user"
    database = f"sqlite+aiosqlite:///{tmp_path / 'user.db'}"
    _migrate(service, database)
    port = free_port()
    env = _env(DATABASE_URL=database)
    with running(_uvicorn("user_service.main:create_app", port), service, env, tmp_path / "user.log", port) as url:
        answer = httpx.post(f"{url}/v1/users", json=USER, timeout=10)
        assert answer.status_code == 401 and "INTERNAL_AUTH_SECRET" in answer.json()["detail"]
        forged = InternalAuth(SECRET, issuer="gateway").mint("u-1", audience="user")
        assert httpx.post(f"{url}/v1/users", json=USER, headers={HEADER: forged}, timeout=10).status_code == 401
    assert "service.internal_auth_unconfigured" in (tmp_path / "user.log").read_text()


def test_admin_routes_need_the_admin_token_and_are_closed_without_one(project: Path, tmp_path: Path) -> None:
    service = project / "services" / "inventory"
    database = f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}"
    _migrate(service, database)
    admin = local_admin_token(project)
    assert admin == local_admin_token(project) and len(admin) >= 32  # made once per project, then kept
    assert (project / ".msgen/local/.gitignore").read_text().endswith("*\n")
    with nats_server(str(tmp_path / "nats")) as broker:
        base = _env(DATABASE_URL=database, BROKER_URL=broker, INTERNAL_AUTH_SECRET=SECRET)
        for token, expected in ((None, {None: 403, "Bearer x": 403}), (admin, {None: 401, "Bearer x": 401})):
            port = free_port()
            env = {**base, **({"ADMIN_TOKEN": token} if token else {})}
            args = _uvicorn("inventory_service.main:create_app", port)
            with running(args, service, env, tmp_path / f"inventory-{port}.log", port) as url:
                for authorization, status in expected.items():
                    headers = {"Authorization": authorization} if authorization else {}
                    answer = httpx.get(f"{url}/admin/dead-letters", headers=headers, timeout=10)
                    assert answer.status_code == status, answer.text
                    assert answer.headers["content-type"] == PROBLEM
                if token:
                    listed = httpx.get(f"{url}/admin/dead-letters", headers={"Authorization": f"Bearer {admin}"})
                    assert listed.status_code == 200 and listed.json() == []
                    # msgen dlq finds the project's token by itself
                    dlq = run(
                        [sys.executable, "-m", "msgen", "dlq", url, "--project", str(project)],
                        env=_env(),
                        timeout=120,
                    )
                    assert dlq.returncode == 0, dlq.stderr


def _who_router(downstream: str) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/chain")
    async def chain() -> Any:
        client = ServiceClient("down", downstream, timeout=30)
        try:
            return (await client.request("GET", "/who")).json()
        finally:
            await client.close()

    return router


def _downstream() -> FastAPI:
    app = FastAPI()
    auth = InternalAuth(SECRET, issuer="down", trusted=["order"])

    @app.get("/who")
    async def who(request: Request) -> dict[str, str]:
        caller = auth.verify(request.headers[HEADER])
        return {"issuer": caller.issuer, "subject": caller.subject}

    return app


@pytest.mark.anyio
async def test_calls_to_other_services_carry_the_credential_for_the_user_or_the_service(tmp_path: Path) -> None:
    with serve_app(_downstream()) as downstream:
        settings = ServiceSettings(
            service_name="order",
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'o.db'}",
            internal_auth_secret=SECRET,
        )
        app = create_service_app(
            title="t", version="v1", description="d", settings=settings, routers=[_who_router(downstream)]
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://order") as client:
            token = InternalAuth(SECRET, issuer="gateway").mint("u-7", audience="order")
            answer = await client.get("/v1/chain", headers={HEADER: token})
            assert answer.json() == {"issuer": "order", "subject": "u-7"}  # on behalf of the request's user
            assert (await client.get("/v1/chain")).status_code == 401
        # Outside a request (an event handler's task, started with the app): the service speaks for itself.
        # (In process the request ran in this very task, so its caller is still set here.)
        headers = contextvars.Context().run(callers.outgoing_headers, "down")
        outside = InternalAuth(SECRET, issuer="down", trusted=["order"]).verify(headers[HEADER])
        assert (outside.issuer, outside.subject) == ("order", "service:order")
    callers.configure(None)


@pytest.mark.anyio
@pytest.mark.parametrize("dev_mode", [False, True])
async def test_docs_are_served_in_dev_mode_only(tmp_path: Path, dev_mode: bool) -> None:
    settings = ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}", dev_mode=dev_mode)
    app = create_service_app(title="t", version="v1", description="d", settings=settings, routers=[APIRouter()])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        for path in ("/docs", "/openapi.json"):
            assert (await client.get(path)).status_code == (200 if dev_mode else 404)
    callers.configure(None)


def _service(tmp_path: Path, name: str, **settings: Any) -> FastAPI:
    router = APIRouter()

    @router.get("/v1/who")
    async def who() -> dict[str, str]:
        caller = callers.current_caller()
        assert caller is not None
        return {"issuer": caller.issuer, "subject": caller.subject}

    values = ServiceSettings(
        service_name=name, database_url=f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}", **settings
    )
    return create_service_app(title=name, version="v1", description="d", settings=values, routers=[router])


@pytest.mark.anyio
async def test_an_internal_token_works_only_on_the_service_it_names_from_a_caller_it_trusts(tmp_path: Path) -> None:
    app = _service(tmp_path, "product", internal_auth_secret=SECRET, internal_callers=["gateway", "order"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://product") as client:

        async def status(issuer: str, audience: str) -> tuple[int, str]:
            token = InternalAuth(SECRET, issuer=issuer).mint("u-1", audience=audience)
            answer = await client.get("/v1/who", headers={HEADER: token})
            return answer.status_code, answer.text

        assert (await status("gateway", "product"))[0] == 200
        assert (await status("order", "product"))[0] == 200  # a service that calls it
        code, text = await status("gateway", "user")  # a token for another service
        assert code == 401 and "not meant for product" in text
        code, text = await status("user", "product")  # a service that does not call it
        assert code == 401 and "takes no calls from 'user'" in text
    callers.configure(None)


@pytest.mark.anyio
async def test_a_rotation_of_the_internal_secret_accepts_both_keys_and_signs_with_the_new(tmp_path: Path) -> None:
    new, old, other = "n" * 40, "o" * 40, "x" * 40
    app = _service(tmp_path, "product", internal_auth_secrets=f"{new}, {old}")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://product") as client:
        for key, status in ((new, 200), (old, 200), (other, 401)):
            token = InternalAuth(key, issuer="gateway").mint("u-1", audience="product")
            assert (await client.get("/v1/who", headers={HEADER: token})).status_code == status, key
    sent = contextvars.Context().run(callers.outgoing_headers, "down")[HEADER]
    assert InternalAuth(new, issuer="down", trusted=["product"]).verify(sent).subject == "service:product"
    with pytest.raises(Problem):
        InternalAuth(old, issuer="down", trusted=["product"]).verify(sent)
    callers.configure(None)
    gateway = GatewaySettings(dev_mode=True, internal_auth_secrets=f"{new},{old}")
    signer = check_secure(gateway)
    assert signer is not None
    assert InternalAuth(new, issuer="order").verify(signer.mint("u", audience="order")).issuer == "gateway"


def test_generated_services_trust_the_gateway_and_the_services_calling_them(shop: Generated) -> None:
    product = shop.files["services/product/product_service/settings.py"]
    assert 'internal_callers: list[str] = Field(default_factory=lambda: ["gateway", "inventory", "order"])' in product
    assert '["gateway", "order"]' in shop.files["services/user/user_service/settings.py"]
    assert "internal_callers" not in shop.files["services/order/order_service/settings.py"]  # no service calls it


def test_an_in_cluster_http_issuer_needs_the_explicit_opt_in_and_the_dev_issuer_needs_dev_mode(tmp_path: Path) -> None:
    base: dict[str, Any] = {
        "oidc_issuer": "http://keycloak.auth.svc:8080/realms/shop",
        "oidc_audience": "shop-api",
        "internal_auth_secret": SECRET,
    }
    with pytest.raises(InsecureConfiguration, match="plain http"):
        check_secure(GatewaySettings(**base))
    assert check_secure(GatewaySettings(**base, oidc_allow_http=True)) is not None
    dev = {"dev_issuer_enabled": True, "dev_issuer_dir": str(tmp_path / "dev-issuer")}
    with pytest.raises(InsecureConfiguration, match="dev mode only"):
        check_secure(GatewaySettings(**base, oidc_allow_http=True, **dev))
    outside = GatewaySettings(**base, oidc_allow_http=True, **dev)
    verifier = build_verifier(outside)
    assert verifier is not None and set(verifier.issuers) == {base["oidc_issuer"]}  # not the dev issuer
    inside = GatewaySettings(**base, oidc_allow_http=True, dev_mode=True, **dev)
    check_secure(inside)
    verifier = build_verifier(inside)
    assert verifier is not None and inside.dev_issuer in verifier.issuers


@pytest.mark.parametrize("settings_class", [ServiceSettings, GatewaySettings])
def test_only_msgen_dev_mode_turns_dev_mode_on(
    settings_class: type[ServiceSettings | GatewaySettings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MSGEN_DEV_MODE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("dev_mode=true\n")
    monkeypatch.setenv("DEV_MODE", "1")  # a common name in a developer's shell, or a CI's
    assert settings_class().dev_mode is False
    assert settings_class(dev_mode=True).dev_mode is True  # in code, by its name
    (tmp_path / ".env").write_text("MSGEN_DEV_MODE=1\n")
    assert settings_class().dev_mode is True
    monkeypatch.setenv("MSGEN_DEV_MODE", "0")  # the environment wins over .env
    assert settings_class().dev_mode is False


@pytest.mark.anyio
async def test_a_service_in_dev_mode_says_so_at_every_start(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    for dev_mode in (True, False, True):
        _service(tmp_path, "user", dev_mode=dev_mode)
        lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
        said = [line["level"] for line in lines if line.get("event") == "service.dev_mode_on"]
        assert said == (["WARNING"] if dev_mode else []), lines
    callers.configure(None)


def test_a_service_with_a_short_admin_token_refuses_to_start(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ADMIN_TOKEN must be at least 32 characters"):
        ServiceSettings(admin_token="s3cret")
    assert ServiceSettings(admin_token="x" * 32).admin_token is not None
    done = run(
        _uvicorn("inventory_service.main:create_app", free_port()),
        cwd=project / "services" / "inventory",
        env=_env(
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", INTERNAL_AUTH_SECRET=SECRET, ADMIN_TOKEN="admin"
        ),
        timeout=120,
    )
    assert done.returncode != 0 and "ADMIN_TOKEN must be at least 32 characters" in done.stderr, done.stderr[-3000:]


def test_a_short_internal_secret_is_refused() -> None:
    with pytest.raises(InsecureConfiguration, match="at least 32"):
        InternalAuth("short", issuer="gateway")


def test_a_local_run_is_dev_mode_with_the_projects_admin_token_and_this_runs_secret(
    project: Path, tmp_path: Path
) -> None:
    from msgen.localrun import Options, plan

    specs = plan(project, Options(workdir=tmp_path, broker_url="nats://127.0.0.1:1", internal_auth_secret=SECRET))
    by_name = {spec.name: spec.env for spec in specs}
    for name in ("user", "order", "gateway"):
        assert by_name[name]["MSGEN_DEV_MODE"] == "1" and by_name[name]["INTERNAL_AUTH_SECRET"] == SECRET
    assert by_name["order"]["ADMIN_TOKEN"] == local_admin_token(project)
    assert "ADMIN_TOKEN" not in by_name["gateway"]


@pytest.mark.parametrize("link", [".msgen", ".msgen/local", ".msgen/local/admin-token"])
def test_the_local_admin_token_is_never_read_or_written_through_a_link(tmp_path: Path, link: str) -> None:
    from msgen.errors import MsgenError
    from msgen.localrun import read_local_admin_token

    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (outside / "admin-token").write_text("a-secret-of-someone-else-0123456789abcdef\n")
    target = outside / "admin-token" if link.endswith("admin-token") else outside
    (project / link).parent.mkdir(parents=True, exist_ok=True)
    (project / link).symlink_to(target)
    if link == ".msgen":
        (outside / "local").mkdir()
        (outside / "local" / "admin-token").write_text("a-secret-of-someone-else-0123456789abcdef\n")
    before = sorted(str(p) for p in outside.rglob("*"))
    with pytest.raises(MsgenError, match="link"):
        local_admin_token(project)
    with pytest.raises(MsgenError, match="link"):
        read_local_admin_token(project)
    assert sorted(str(p) for p in outside.rglob("*")) == before  # nothing written outside the project


def test_the_local_admin_token_is_made_once_in_the_project(tmp_path: Path) -> None:
    from msgen.localrun import read_local_admin_token

    assert read_local_admin_token(tmp_path) is None
    token = local_admin_token(tmp_path)
    assert len(token) >= 32 and token == local_admin_token(tmp_path) == read_local_admin_token(tmp_path)
    assert (tmp_path / ".msgen/local/admin-token").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / ".msgen/local/.gitignore").read_text().endswith("*\n")
    assert sorted(p.name for p in (tmp_path / ".msgen/local").iterdir()) == [".gitignore", "admin-token"]
