"""The saga keys beyond a chain, and a mail through a reference, on tests/fixtures/courier.yaml, end to end.

The generated courier system runs as real processes (uvicorn per service, a nats-server of its own, SQLite
databases, the tests' SMTP server): its book_job saga assigns a courier (whose success publishes
job.assigned and records the courier on the job), calls pricing's quoteJob as a step (recording the
agreed price), then charges, triggered by job.priced, which the orchestrator publishes when the step
begins. The assignment's compensation has no `done` event: billing.declined or job.failed undo it.

The books: a BOOKED job's saga COMPLETED with one ASSIGNED assignment and one CHARGED charge of the
agreed price; a FAILED job's saga FAILED with its assignment RELEASED and nothing charged.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruff.__main__ import find_ruff_bin

from msgen.generate import Generated, generate
from msgen.writer import write_project
from tests.processes import run, scaled
from tests.saga_support import Shop, as_money, as_uuid, prepared_shop, running_shop, wait_settled

pytestmark = pytest.mark.usefixtures("one_saga_system_at_a_time")

ROOT = Path(__file__).resolve().parents[1]
COURIER_SPEC = ROOT / "tests" / "fixtures" / "courier.yaml"
FINAL = ("BOOKED", "FAILED")

# The user's code: pricing quotes 2.00 a kilo and refuses parcels over 50 kg (a 422: the call step fails);
# billing declines a price over 60.00 (billing.declined: the last step fails).
PRICING = '''
async def quote_job(session: AsyncSession, job_id: str, *, weight: int) -> Quote:
    """2.00 a kilo; no tariff over 50 kg."""
    from decimal import Decimal
    from uuid import UUID

    from msgen_runtime.problems import Problem

    if weight > 50:
        raise Problem(422, "Unprocessable Content", f"no tariff for {weight} kg")
    return Quote(job_id=UUID(job_id), agreed_price=Decimal(weight) * 2)
'''
DECLINE = """
    if event.agreed_price > 60:  # the card declines it: the step fails and acts not
        from billing_service.events import BillingDeclined

        await publish(session, BillingDeclined(job_id=event.job_id, reason="card declined"))
        return
"""


@pytest.fixture(scope="module")
def courier() -> Generated:
    return generate(COURIER_SPEC)


def _user_code(root: Path) -> dict[str, str]:
    """The project's files with the user's pricing and billing logic in place of the defaults."""
    pricing = "services/pricing/pricing_service/handlers/operations.py"
    text = (root / pricing).read_text()
    start = text.index("async def quote_job(")
    end = text.index("\n\n\n", start) if "\n\n\n" in text[start:] else len(text)
    pricing_text = text[:start] + PRICING.strip() + "\n" + text[end:]
    billing = "services/billing/billing_service/handlers/events.py"
    text = (root / billing).read_text()
    start = text.index("async def on_job_priced(")
    body = text.index('"""\n', text.index('"""', start) + 3) + 4  # after the handler's docstring
    billing_text = text[:body] + DECLINE.lstrip("\n") + text[body:]
    return {pricing: pricing_text, billing: billing_text}


@pytest.fixture(scope="module")
def system(courier: Generated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    base = tmp_path_factory.mktemp("courier")
    with (
        prepared_shop(courier, base) as prepared,
        running_shop(
            prepared, base / "run", handlers=_user_code(prepared.root), smtp=True, without=("product", "user")
        ) as shop,
    ):
        yield shop


def _post(shop: Shop, service: str, path: str, body: dict[str, Any]) -> str:
    answer = httpx.post(f"{shop.url(service)}{path}", json=body, timeout=30)
    assert answer.status_code in (201, 202), answer.text
    return str(answer.json()["id"])


def _final(shop: Shop, ident: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + scaled(timeout)
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = httpx.get(f"{shop.url('dispatch')}/v1/jobs/{ident}", timeout=10).json()
        if job.get("status") in FINAL:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {ident} did not end: {job}")


def _by_job(rows: list[tuple[Any, ...]]) -> dict[uuid.UUID, list[tuple[Any, ...]]]:
    out: dict[uuid.UUID, list[tuple[Any, ...]]] = {}
    for row in rows:
        out.setdefault(as_uuid(row[0]), []).append(tuple(row[1:]))
    return out


def test_the_books_hold_when_the_saga_completes_and_when_a_call_or_the_last_step_fails(system: Shop) -> None:
    shop = system
    address = f"customer-{uuid.uuid4().hex[:8]}@courier.test"
    customer = _post(shop, "customer", "/v1/customers", {"email": address, "name": "Ada"})
    weights = {"booked": 10, "call refused": 80, "charge declined": 40}
    jobs = {
        case: _post(shop, "dispatch", "/v1/jobs", {"customer_id": customer, "parcel": case, "weight": weight})
        for case, weight in weights.items()
    }
    final = {case: _final(shop, ident) for case, ident in jobs.items()}
    wait_settled(shop, orchestrator="dispatch")

    sagas = {as_uuid(k): (s, r) for k, s, r in shop.rows("dispatch", "SELECT key, status, reason FROM saga_states")}
    assignments = _by_job(shop.rows("couriers", "SELECT job_id, status, courier_id FROM assignments"))
    charges = _by_job(shop.rows("billing", "SELECT job_id, status, agreed_price FROM charges"))
    published = [(t, as_uuid(k)) for t, k in shop.rows("dispatch", "SELECT topic, key FROM outbox")]

    # completed: every step applied once; the courier and the price recorded on the job
    booked = uuid.UUID(jobs["booked"])
    job = final["booked"]
    assert job["status"] == "BOOKED", job
    assert sagas[booked][0] == "COMPLETED"
    [(status, courier_id)] = assignments[booked]
    assert status == "ASSIGNED"
    assert uuid.UUID(job["courier_id"]) == as_uuid(courier_id)  # records: courier.assigned -> Job
    assert as_money(job["agreed_price"]) == Decimal("20.00")  # records: the call's answer -> Job
    assert [(s, as_money(a)) for s, a in charges[booked]] == [("CHARGED", Decimal("20.00"))]

    # the call step refused: the assignment undone by job.failed, nothing priced or charged
    refused = uuid.UUID(jobs["call refused"])
    assert final["call refused"]["status"] == "FAILED"
    assert sagas[refused][0] == "FAILED"
    assert "price_job refused" in sagas[refused][1], sagas[refused]
    assert [s for s, _ in assignments[refused]] == ["RELEASED"]
    assert final["call refused"]["agreed_price"] is None
    assert refused not in charges

    # the last step failed: the assignment undone on billing.declined itself (no `done` awaited)
    declined = uuid.UUID(jobs["charge declined"])
    assert final["charge declined"]["status"] == "FAILED"
    assert sagas[declined] == ("FAILED", "card declined")
    assert [s for s, _ in assignments[declined]] == ["RELEASED"]
    assert declined not in charges
    assert as_money(final["charge declined"]["agreed_price"]) == Decimal("80.00")

    # each step's events of the orchestrator went out once: job.assigned on the assignment's success,
    # job.priced when the charge began (never for the job whose price was refused)
    for case, ident in jobs.items():
        key = uuid.UUID(ident)
        assert published.count(("job.assigned", key)) == 1, case
        assert published.count(("job.priced", key)) == (0 if case == "call refused" else 1), case
        assert published.count(("job.booked", key)) == (1 if case == "booked" else 0), case
        assert published.count(("job.failed", key)) == (0 if case == "booked" else 1), case

    # job.assigned carries no address: billing read the customer's, one mail per assigned job
    assert shop.mailbox is not None
    mails = [(to, subject) for to, subject in shop.mailbox.messages if subject.endswith(tuple(jobs.values()))]
    assert sorted(subject.rsplit(" ", 1)[1] for _, subject in mails) == sorted(jobs.values()), mails
    assert {to for to, _ in mails} == {address}
    assert (address, f"Courier {job['courier_id']} takes job {booked}") in mails
    dead = shop.rows("billing", "SELECT topic FROM dead_letters") + shop.rows(
        "dispatch", "SELECT topic FROM dead_letters"
    )
    assert dead == [], dead


def test_a_mail_whose_address_cannot_be_read_is_dead_lettered_never_sent(system: Shop) -> None:
    shop = system
    nobody = str(uuid.uuid4())  # no such customer: the customer service answers 404
    job = _post(shop, "dispatch", "/v1/jobs", {"customer_id": nobody, "parcel": "lost", "weight": 5})
    assert _final(shop, job)["status"] == "BOOKED"  # the saga does not wait for the mail
    deadline = time.monotonic() + scaled(60)
    letters: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline and not letters:
        letters = [
            row
            for row in shop.rows("billing", "SELECT topic, body, attempts FROM dead_letters")
            if job.encode() in bytes(row[1])
        ]
        time.sleep(0.1)
    assert [row[0] for row in letters] == ["job.assigned"], letters
    assert letters[0][2] > 1  # retried before it was put aside
    wait_settled(shop, orchestrator="dispatch")
    assert shop.mailbox is not None
    assert not [m for m in shop.mailbox.messages if job in m[1]]


def test_a_call_step_whose_service_is_down_times_out_and_compensates(system: Shop) -> None:
    """No answer is no refusal: the call is made again until the step's timeout, which then compensates."""
    shop = system
    customer = _post(shop, "customer", "/v1/customers", {"email": "down@courier.test", "name": "Bo"})
    shop.system.stop("pricing")
    try:
        job = _post(shop, "dispatch", "/v1/jobs", {"customer_id": customer, "parcel": "no price", "weight": 5})
        final = _final(shop, job, timeout=120)  # the step's timeout is 20 s
    finally:
        shop.restart_stopped()
    assert final["status"] == "FAILED" and final["agreed_price"] is None, final
    wait_settled(shop, orchestrator="dispatch")
    key = uuid.UUID(job)
    [(status, reason)] = [
        (s, r) for k, s, r in shop.rows("dispatch", "SELECT key, status, reason FROM saga_states") if as_uuid(k) == key
    ]
    assert (status, reason) == ("FAILED", "price_job timed out")
    assert [s for j, s in shop.rows("couriers", "SELECT job_id, status FROM assignments") if as_uuid(j) == key] == [
        "RELEASED"
    ]
    assert key not in {as_uuid(j) for (j,) in shop.rows("billing", "SELECT job_id FROM charges")}


@pytest.mark.slow
@pytest.mark.parametrize("service", ["dispatch", "couriers", "billing"])
def test_generated_suites_of_the_fixture_pass(courier: Generated, tmp_path: Path, service: str) -> None:
    """The orchestrator with a call step, a participant compensated without `done`, a mailer with a lookup."""
    root = tmp_path / "courier"
    write_project(root, courier.files, courier.system.spec_hash)
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "TEST_REDIS_URL")}
    done = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root / "services" / service,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.slow
def test_generated_code_of_the_fixture_is_ruff_clean_and_passes_mypy_strict(courier: Generated, tmp_path: Path) -> None:
    """The call functions, the saga's new Step arguments and the mail lookup, as strictly typed as the rest."""
    root = tmp_path / "courier"
    write_project(root, courier.files, courier.system.spec_hash)
    ruff = find_ruff_bin()
    for args in ([ruff, "check", "--no-cache", "."], [ruff, "format", "--check", "--no-cache", "."]):
        done = run(args, cwd=root, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    for service in ("dispatch", "billing"):
        config = ["--config-file", str(root / "pyproject.toml"), "--cache-dir", str(tmp_path / "mypy")]
        done = run(
            [sys.executable, "-m", "mypy", *config, f"{service}_service", "tests"],
            cwd=root / "services" / service,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
