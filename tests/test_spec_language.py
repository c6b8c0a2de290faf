"""The spec keys of issue 16, on tests/fixtures/ledger.yaml: generated, served by real processes, and its suites run."""

from __future__ import annotations

import itertools
import os
import socket
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from msgen.generate import Generated, generate
from msgen.writer import write_project
from tests.processes import run, run_ok, started, wait_for

ROOT = Path(__file__).resolve().parents[1]
LEDGER_SPEC = ROOT / "tests" / "fixtures" / "ledger.yaml"
SECRET = "spec-language-test-secret-0123456789abcdef"
DEADLINE = 60.0  # seconds: generous, every wait below ends as soon as its condition holds


@pytest.fixture(scope="module")
def ledger() -> Generated:
    return generate(LEDGER_SPEC)


@pytest.fixture
def ledger_dir(ledger: Generated, tmp_path: Path) -> Path:
    """A fresh copy of the generated ledger: the tests write handlers into it, as its users would."""
    root = tmp_path / "ledger"
    write_project(root, ledger.files, ledger.system.spec_hash)
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` (a refused connection counts as not yet) until it holds; fail after DEADLINE (scaled)."""

    def holds() -> bool:
        try:
            return condition()
        except httpx.TransportError:
            return False

    wait_for(holds, timeout=DEADLINE, what=f"{what}: not", interval=0.05)


@contextmanager
def serve(project: Path, service: str, tmp_path: Path, **env: str) -> Iterator[str]:
    """One generated service under uvicorn on a migrated SQLite file; yields its base URL."""
    cwd = project / "services" / service
    full_env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
        "DATABASE_URL": f"sqlite:///{tmp_path / f'{service}.db'}",
        "INTERNAL_AUTH_SECRET": SECRET,
        **env,
    }
    run_ok([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=cwd, env=full_env, timeout=120)
    port = _free_port()
    args = [sys.executable, "-m", "uvicorn", f"{service}_service.main:create_app", "--factory", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with started(args, cwd=cwd, env=full_env, log=tmp_path / f"{service}.log", grace=15) as proc:
        _wait_for(
            lambda: proc.poll() is None and httpx.get(f"{base}/health/ready", timeout=2).status_code == 200,
            f"{service}-service ready",
        )
        yield base


def internal(service: str) -> dict[str, str]:
    """The credential the gateway gives a request to `service`."""
    from msgen_runtime.callers import HEADER, InternalAuth

    return {HEADER: InternalAuth(SECRET, issuer="gateway").mint("u-1", audience=service)}


def write_handler(project: Path, service: str, module: str, function_stub: str, code: str) -> None:
    """Replace a generated 501 stub by `code` (the user's own logic)."""
    path = project / "services" / service / f"{service}_service" / "handlers" / f"{module}.py"
    text = path.read_text()
    start = text.index(function_stub)
    end = text.index("\n\n\n", start) if "\n\n\n" in text[start:] else len(text)
    path.write_text(text[:start] + code.strip() + "\n" + text[end:])


# -- cache_ttl on a GET operation and on a call ------------------------------------------------


def test_cached_get_operation_and_cached_call(ledger_dir: Path, tmp_path: Path) -> None:
    write_handler(
        ledger_dir,
        "rates",
        "operations",
        "async def latest_quote(",
        '''
LOADS = 0


async def latest_quote(
    session: AsyncSession,
    code: str,
    *,
    at: date | None = None,
    source: Literal["ECB", "FED"] = "ECB",
    spread: Decimal = Decimal("0"),
) -> Quote:
    """Counts its loads: an answer from the cache repeats the count. Its value is the spread asked for."""
    global LOADS
    LOADS += 1
    return Quote(code=code, value=spread, loads=LOADS)
''',
    )
    write_handler(
        ledger_dir,
        "account",
        "operations",
        "async def view_rate(",
        '''
async def view_rate(session: AsyncSession, id: UUID) -> Quote:
    """The rate as rates-service answered the (cached) call."""
    rate = await clients().rates.get_rate(id)
    quote = await clients().rates.latest_quote(rate.code, spread=Decimal("2.5"), at=date(2026, 1, 31))
    return Quote(code=rate.code, value=rate.value, loads=int(quote.value * 10))  # the query reached rates
''',
    )
    acc = ledger_dir / "services" / "account" / "account_service" / "handlers" / "operations.py"
    acc.write_text(
        "from datetime import date\nfrom decimal import Decimal\n\nfrom account_service.clients import clients\n"
        + acc.read_text()
    )

    with serve(ledger_dir, "rates", tmp_path) as rates:
        # The operation's cache: consecutive answers repeat a load (a hit), and a later load comes (expiry).
        seen: list[int] = []

        def hit_then_expiry() -> bool:
            answer = httpx.get(f"{rates}/v1/quotes/EUR", headers=internal("rates"), timeout=30)
            assert answer.status_code == 200, answer.text
            seen.append(answer.json()["loads"])
            repeated = any(a == b for a, b in itertools.pairwise(seen))
            return repeated and len(set(seen)) > 1

        _wait_for(hit_then_expiry, "a cached answer, then a fresh one after the TTL")
        other = httpx.get(f"{rates}/v1/quotes/USD", headers=internal("rates"), timeout=30).json()
        assert other["code"] == "USD" and other["loads"] > max(seen)  # parameters are part of the key
        # query parameters: validated by the route, handed to the handler, part of the cache key
        quote = f"{rates}/v1/quotes/USD"
        spread = httpx.get(quote, params={"spread": "2.5", "at": "2026-01-31"}, headers=internal("rates"), timeout=30)
        assert spread.status_code == 200 and Decimal(spread.json()["value"]) == Decimal("2.5"), spread.text
        assert spread.json()["loads"] > other["loads"]
        for bad in ({"spread": "11"}, {"spread": "0.123"}, {"source": "XYZ"}, {"at": "31/01/2026"}):
            refused = httpx.get(quote, params=bad, headers=internal("rates"), timeout=30)
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"

        created = httpx.post(
            f"{rates}/v1/rates", json={"code": "EUR", "value": "1.000000"}, headers=internal("rates"), timeout=30
        )
        assert created.status_code == 201, created.text
        rate_id = created.json()["id"]
        with serve(ledger_dir, "account", tmp_path, RATES_URL=rates) as account:

            def view() -> str:
                answer = httpx.get(f"{account}/v1/rate-views/{rate_id}", headers=internal("account"), timeout=30)
                assert answer.status_code == 200, answer.text
                return str(answer.json()["value"])

            assert view() == "1.000000"
            # the typed client sent its keyword arguments as query parameters
            answer = httpx.get(f"{account}/v1/rate-views/{rate_id}", headers=internal("account"), timeout=30)
            assert answer.json()["loads"] == 25, answer.text
            # The call's cache: after a change, account still answers the old value (a hit), then the new one.
            state: dict[str, Any] = {"value": 1, "stale": False}

            def stale_then_fresh() -> bool:
                if not state["stale"]:
                    state["value"] += 1
                    new = f"{state['value']}.000000"
                    patched = httpx.patch(
                        f"{rates}/v1/rates/{rate_id}", json={"value": new}, headers=internal("rates"), timeout=30
                    )
                    assert patched.status_code == 200, patched.text
                    state["stale"] = view() != new
                    return False
                return view() == f"{state['value']}.000000"

            _wait_for(stale_then_fresh, "a call answered from the cache, then fresh after the TTL")


# -- a route's own rate limit, enforced by the real gateway ------------------------------------------


def test_the_gateway_enforces_a_route_rate_limit_apart_from_its_own(ledger_dir: Path, tmp_path: Path) -> None:
    with serve(ledger_dir, "rates", tmp_path) as rates:
        project = tmp_path / "gateway-project"  # the dev issuer's key goes here, not into the generated project
        (project / "gateway").mkdir(parents=True)
        (project / "gateway" / "dev-issuer.json").write_text((ledger_dir / "gateway" / "dev-issuer.json").read_text())
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
            "RATES_URL": rates,
            "ACCOUNT_URL": f"http://127.0.0.1:{_free_port()}",
            "MSGEN_DEV_MODE": "1",
            "DEV_ISSUER_ENABLED": "true",
            "DEV_ISSUER_DIR": str(project / "gateway" / "dev-issuer"),
            "INTERNAL_AUTH_SECRET": SECRET,
        }
        args = [sys.executable, "-m", "uvicorn", "gateway_app.main:create_app", "--factory", "--port", str(port)]
        base = f"http://127.0.0.1:{port}"
        with started(args, cwd=ledger_dir / "gateway", env=env, log=tmp_path / "gateway.log", grace=15) as proc:
            _wait_for(
                lambda: proc.poll() is None and httpx.get(f"{base}/health/live", timeout=2).status_code == 200,
                "the gateway live",
            )
            answers = [httpx.get(f"{base}/v1/quotes/EUR", timeout=10) for _ in range(4)]
            # latestQuote: 3 a minute per client IP (its handler is still the 501 stub: the gateway let them through)
            assert [a.status_code for a in answers] == [501, 501, 501, 429], [a.text for a in answers]
            assert answers[0].headers["RateLimit-Limit"] == "3"
            refused = answers[3]
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["Retry-After"]) >= 1
            # every other route keeps the gateway's limit (100 a second), counted apart
            listed = httpx.get(f"{base}/v1/rates", timeout=10)
            assert listed.status_code == 200, listed.text
            assert listed.headers["RateLimit-Limit"] == "100"


# -- a service's own objectives -------------------------------------------------------------------


def test_a_service_slo_drives_its_alert_rules_and_promtool_passes(ledger: Generated, tmp_path: Path) -> None:
    import yaml

    from tests.deploy_tools import binary

    rules = yaml.safe_load(ledger.files["observability/rules/ledger.rules.yaml"])
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    latency = {r["expr"] for r in alerts if r["alert"] == "LatencyP95AboveSlo"}
    assert latency == {
        'service:http_request_duration_seconds:p95_5m{service!~"rates"} > 0.3',  # the system's, for account
        'service:http_request_duration_seconds:p95_5m{service="rates"} > 0.05',  # rates' own 50ms
    }
    errors = {r["expr"] for r in alerts if r["alert"] == "ErrorRateAboveSlo"}
    assert 'service:http_error_ratio:rate5m{service="rates"} > 0.005' in errors  # not set: the system's 0.5%
    fast = next(r for r in alerts if r["alert"] == "ErrorBudgetBurnFast" and r["labels"].get("service") == "rates")
    assert "> 0.072" in fast["expr"]  # 14.4 x the 0.5% budget of rates' 99.5% availability
    promtool = binary("promtool", "Debian's prometheus package; .ci/run installs it")
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("ledger.rules.yaml", "ledger.rules.test.yaml"):
        (folder / name).write_text(ledger.files[f"observability/rules/{name}"])
    for command in (["check", "rules", "ledger.rules.yaml"], ["test", "rules", "ledger.rules.test.yaml"]):
        done = run([promtool, *command], cwd=folder, timeout=120)
        assert done.returncode == 0 and "FAILED" not in done.stdout, done.stdout + done.stderr


# -- value objects shared by services -------------------------------------------------------------


def test_a_shared_value_object_is_the_same_model_in_each_service_and_contract(ledger: Generated) -> None:
    import yaml

    schemas = [
        yaml.safe_load(ledger.files[f"contracts/openapi/{name}.v1.yaml"])["components"]["schemas"]["Quote"]
        for name in ("rates", "account")
    ]
    assert schemas[0] == schemas[1]
    assert schemas[0]["description"] == "A rate as quoted." and set(schemas[0]["properties"]) == {
        "code",
        "value",
        "loads",
    }
    for name in ("rates", "account"):
        assert (
            'class Quote(RequestModel):\n    """A rate as quoted."""'
            in ledger.files[f"services/{name}/{name}_service/schemas.py"]
        )


# -- a POST action that updates an entity: sets, publishes ----------------------------------------


def test_post_action_sets_fields_and_writes_its_event_to_the_outbox(ledger_dir: Path, tmp_path: Path) -> None:
    with serve(ledger_dir, "account", tmp_path) as account:
        headers = internal("account")
        created = httpx.post(f"{account}/v1/accounts", json={"owner": "Ada", "currency": "EUR"}, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "ACTIVE"
        account_id = created.json()["id"]
        suspended = httpx.post(f"{account}/v1/accounts/{account_id}/suspend", headers=headers)
        assert suspended.status_code == 200, suspended.text
        assert suspended.json()["status"] == "SUSPENDED" and suspended.json()["owner"] == "Ada"
        assert httpx.get(f"{account}/v1/accounts/{account_id}", headers=headers).json()["status"] == "SUSPENDED"
        missing = httpx.post(f"{account}/v1/accounts/{uuid.uuid4()}/suspend", headers=headers)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        bad = httpx.post(f"{account}/v1/accounts/not-an-id/suspend", headers=headers)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    with sqlite3.connect(tmp_path / "account.db") as db:
        rows = db.execute("SELECT event, key, body FROM outbox").fetchall()
    assert [(event, key) for event, key, _ in rows] == [("account.suspended", account_id)]
    assert b"SUSPENDED" in rows[0][2] and b"Ada" in rows[0][2]


# -- the fixture's own generated suites ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("service", ["rates", "account"])
def test_generated_suites_of_the_fixture_pass(ledger: Generated, tmp_path: Path, service: str) -> None:
    root = tmp_path / "ledger"
    write_project(root, ledger.files, ledger.system.spec_hash)
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "TEST_REDIS_URL")}
    done = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root / "services" / service,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout
