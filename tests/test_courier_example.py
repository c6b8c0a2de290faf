"""The second example, examples/courier.yaml, run like the shop: parcel deliveries on RabbitMQ.

Its golden tree is compared in tests/test_golden.py. Here: each generated service's suite (once per
run, tests/shop_suites.py), `msgen up --demo` on a RabbitMQ vhost of the test's
own until the book_delivery saga has SCHEDULED the delivery, `msgen deploy --k8s --dry-run` through
its validators, `msgen contracts verify`, and a regen after a spec change that keeps a hand edit.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest
import yaml

from msgen import model as m
from msgen.generate import Generated, generate
from msgen.up import demo_plan, unwritten_calls
from tests.pact_support import committed_pacts
from tests.processes import CALL_TIMEOUT_FLOOR, run, run_ok, wait_for
from tests.regen_support import commit_all, edit_spec, git_status, msgen, write_generated
from tests.shop_suites import ShopSuites, run_suite

pytestmark = pytest.mark.slow

SERVICES = ["customer", "pricing", "courier", "dispatch", "billing", "notification"]


def test_the_example_has_what_issue_16_asks_of_it(courier: Generated) -> None:
    """Five services or more on RabbitMQ, a shared value object, a saga with a compensation, and the keys."""
    system = courier.system
    assert [s.name for s in system.services] == SERVICES
    assert system.broker == "rabbitmq"
    users = [s.name for s in system.services if any(v.name == "Location" for v in s.value_objects)]
    assert {"customer", "courier", "dispatch"} <= set(users)
    (saga,) = system.sagas
    assert all(step.compensation_triggers for step in saga.steps if step.call is None)
    ops = {op.op_id: op for s in system.services for op in s.operations}
    assert ops["quoteDelivery"].query and ops["quoteDelivery"].cache_ttl
    assert ops["suspendCourier"].action == "update" and ops["suspendCourier"].sets
    assert ops["quoteDelivery"].rate_limit and ops["bookDelivery"].rate_limit
    assert any(c.cache_ttl for c in system.service("dispatch").calls)
    assert {s.name for s in system.services if s.slo} == {"pricing", "dispatch"}
    assert system.service("notification").emails
    _uses_every_saga_key(system)


def _uses_every_saga_key(system: m.System) -> None:
    """The saga keys beyond a chain, each where the domain needs it (issue 16)."""
    (saga,) = system.sagas
    steps = {step.name: step for step in saga.steps}
    publisher = {e.name: e.publisher for e in system.events}
    # a synchronous call as a step, its answer's fee recorded on the delivery, with a status of its own
    price = steps["price_delivery"]
    assert (price.service, price.call, price.status) == ("pricing", "quoteDelivery", "PRICED")
    assert price.records == (("fee", "fee"),)
    assert any(c.operation == "quoteDelivery" and c.cache_ttl for c in system.service("dispatch").calls)
    # the orchestrator publishes an intermediate event, which triggers the next step (not a success event)
    assert price.publishes == ("delivery.priced",)
    assign = steps["assign_courier"]
    assert assign.trigger == "delivery.priced" and publisher["delivery.priced"] == saga.orchestrator
    assert assign.records == (("courier_id", "courier_id"),)
    # a trigger dispatch publishes when the step begins, built from what the saga recorded so far
    charge = steps["charge_fee"]
    assert publisher[charge.trigger] == saga.orchestrator
    assert charge.trigger not in {e for step in saga.steps for e in step.publishes} | {saga.start}
    # a compensation nothing waits for, triggered by a later step's failure: courier releases the courier
    assert assign.compensation_done is None and charge.failure in assign.compensation_triggers
    assert all(step.compensation_done is None for step in saga.steps)
    # the mails' address read through customer_id, and no event or delivery carries a copy of it
    emails = system.service("notification").emails
    assert emails and all(rule.to == "customer_id" and rule.lookup for rule in emails)
    assert all(rule.lookup[0] == "customer" and rule.lookup[2] == "email" for rule in emails if rule.lookup)
    assert not [e.name for e in system.events for f in e.fields if f.type.kind == "email"]
    assert "email" not in {f.name for f in system.service("dispatch").entity("Delivery").fields}


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "courier.yaml"
COURIER_HANDLERS = "services/courier/courier_service/handlers/events.py"


def test_default_step_handlers_fill_what_the_orchestrator_records(courier: Generated, tmp_path: Path) -> None:
    """assign_courier records courier.assigned's courier_id: the default step gives it one, with or without books."""
    handlers = courier.files[COURIER_HANDLERS]
    # the Assignment's courier_id is optional (none when UNAVAILABLE), the event's required and recorded
    assert 'Assignment(delivery_id=event.delivery_id, courier_id=uuid4(), status="ASSIGNED")' in handlers
    assert '"courier_id": assignment.courier_id' in handlers
    # without books, an optional field of the success event is filled when a `records` reads it
    text = EXAMPLE.read_text()
    for before, after in (
        ("      assignment_id: uuid\n      courier_id: uuid\n", "      courier_id: { type: uuid, required: false }\n"),
        ("        books: { entity: Assignment, applied: ASSIGNED, compensated: RELEASED }\n", ""),
    ):
        assert text.count(before) == 1
        text = text.replace(before, after)
    (tmp_path / "courier.yaml").write_text(text)
    handlers = generate(tmp_path / "courier.yaml").files[COURIER_HANDLERS]
    assert 'CourierAssigned.model_validate({"delivery_id": event.delivery_id, "courier_id": uuid4()})' in handlers


# -- the generated suites -----------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_generated_suite_passes_on_sqlite(courier_suites: ShopSuites, service: str) -> None:
    output = courier_suites.sqlite(service)
    assert " passed" in output and "failed" not in output


def test_the_consumer_tests_write_exactly_the_committed_pacts(courier_dir: Path, courier_suites: ShopSuites) -> None:
    """The suites above ran the consumer tests (once): they wrote exactly the pacts msgen committed."""
    for service in SERVICES:
        courier_suites.sqlite(service)
    written = {p.name: p.read_text() for p in sorted(courier_suites.pacts.glob("*.json"))}
    assert written == committed_pacts(courier_dir)
    assert set().union(*courier_suites.written.values()) == set(written)  # none left over from the copy


# -- msgen up --demo on RabbitMQ -----------------------------------------------------


def _management_api(url: str) -> str:
    """The RabbitMQ management API beside the AMQP server of `url` (its usual port)."""
    host = urlsplit(url).hostname or "127.0.0.1"
    return f"http://{host}:15672/api"


def _management(url: str) -> httpx.Client | None:
    """A client of the management API when the plugin answers there, else None."""
    parts = urlsplit(url)
    # 30 s: a loaded server's management API can take seconds (a refused connection, no plugin, comes at once)
    client = httpx.Client(
        base_url=_management_api(url), auth=(parts.username or "guest", parts.password or "guest"), timeout=30
    )
    try:
        if client.get("/overview").status_code == 200:
            return client
    except httpx.TransportError:
        pass
    client.close()
    return None


@pytest.fixture
def own_vhost(rabbitmq_url: str) -> Iterator[str]:
    """A fresh vhost on the test server (management API, or rabbitmqctl beside it); its AMQP URL; deleted after."""
    name = f"msgen-courier-{uuid.uuid4().hex[:8]}"
    user = urlsplit(rabbitmq_url).username or "guest"
    api = _management(rabbitmq_url)
    ctl = shutil.which("rabbitmqctl")
    if api is None and ctl is None:
        pytest.fail("no way to make a vhost: enable the management plugin or put rabbitmqctl on PATH")
    if api is not None:
        with api:
            assert api.put(f"/vhosts/{quote(name, safe='')}").status_code in (201, 204)
            permissions = {"configure": ".*", "write": ".*", "read": ".*"}
            assert api.put(f"/permissions/{quote(name, safe='')}/{quote(user, safe='')}", json=permissions).is_success
    else:
        assert ctl is not None
        run_ok([ctl, "add_vhost", name], timeout=60)
        run_ok([ctl, "set_permissions", "-p", name, user, ".*", ".*", ".*"], timeout=60)
    parts = urlsplit(rabbitmq_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), "", ""))
    finally:
        if api is not None:
            with _management(rabbitmq_url) or httpx.Client() as again:
                again.delete(f"{_management_api(rabbitmq_url)}/vhosts/{quote(name, safe='')}")
        else:
            assert ctl is not None
            run_ok([ctl, "delete_vhost", name], timeout=60)


PRICING = "services/pricing/pricing_service"
STUB = '    raise NotImplementedYet("quoteDelivery", "services/pricing/pricing_service/handlers/operations.py")\n'
# The user's first quote, before the zones have tariffs: a flat fee per kilometre, half as much again express.
FLAT_QUOTE = """    fee = Decimal("3.50") + Decimal("1.20") * distance_km
    if express:
        fee *= Decimal("1.5")
    return Quote(zone=zone, distance_km=distance_km, express=express, fee=round(fee, 2), currency=currency)
"""


def _write_quote(project: Path, body: str, imports: str = "") -> None:
    """Replace msgen's stub of pricing's quoteDelivery with `body`, as a user edits the generated handler."""
    handler = project / PRICING / "handlers" / "operations.py"
    text = handler.read_text()
    assert text.count(STUB) == 1
    handler.write_text(
        text.replace(STUB, body).replace("from msgen_runtime.problems import NotImplementedYet\n", imports)
    )


def test_the_demo_names_the_handler_its_call_step_needs(courier: Generated, tmp_path: Path) -> None:
    """As generated, quoteDelivery answers 501: the demo says which handler to write; once written, nothing."""
    project = write_generated(tmp_path / "courier", courier)
    scenario = demo_plan(courier.system)
    assert unwritten_calls(project, scenario) == (
        "Saga book_delivery needs hand-written handlers to complete: step price_delivery calls quoteDelivery of "
        f"service pricing, still msgen's stub (501): write it in {PRICING}/handlers/operations.py."
    )
    _write_quote(project, FLAT_QUOTE)
    assert unwritten_calls(project, scenario) is None


def test_up_demo_schedules_a_delivery_over_rabbitmq(courier: Generated, own_vhost: str, tmp_path: Path) -> None:
    """With quoteDelivery written by hand (the saga's call step), the delivery is priced, assigned, charged."""
    project = write_generated(tmp_path / "courier", courier)
    _write_quote(project, FLAT_QUOTE)
    command = [sys.executable, "-m", "msgen", "up", str(project), "--demo", "--port", "0", "--broker", own_vhost]
    done = run(command, env={**os.environ, **CALL_TIMEOUT_FLOOR, "COLUMNS": "200"}, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert re.search(r"Created Customer [0-9a-f-]{36} through the gateway", output), output[-3000:]
    assert "Creating a delivery through the gateway: it starts saga book_delivery" in output
    assert re.search(r"Delivery [0-9a-f-]{36} is SCHEDULED", output), output[-3000:]
    for status in ("REQUESTED", "PRICED", "COURIER_ASSIGNED", "SCHEDULED"):
        assert status in output
    assert "needs hand-written handlers" not in output
    # the call's fee and courier.assigned's courier_id, recorded on the delivery (`records`)
    recorded = r"Recorded on delivery [0-9a-f-]{36}: fee \d+\.\d\d \(step price_delivery\), courier_id [0-9a-f-]{36} \("
    assert re.search(recorded + r"step assign_courier\)\.", output), output[-3000:]
    assert re.search(r"courier[\s│]+Assignment [0-9a-f-]{36}[\s│]+ASSIGNED[\s│]+assign_courier", output)
    assert re.search(r"billing[\s│]+Charge [0-9a-f-]{36}[\s│]+CAPTURED[\s│]+charge_fee", output)
    assert "courier records an Assignment ASSIGNED, billing records a Charge CAPTURED)" in output
    assert "the called operations are yours to write (quoteDelivery of service pricing)" in output
    last = done.stderr.strip().splitlines()[-1]
    assert last == "Demo: the saga ended SCHEDULED (as expected); every process has stopped.", done.stderr[-2000:]
    assert "nats" not in re.findall(r"^\s*(\w+)\s*│ \w+://127\.0\.0\.1", output, re.MULTILINE)  # its broker: ours
    pids = [int(p) for p in re.findall(r"│\s*(\d{2,7})\s*│\s*yes", output)]
    assert len(pids) == 7  # the six services and the gateway
    wait_for(lambda: not [pid for pid in pids if _alive(pid)], timeout=30, what="msgen up left processes running")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- deploy and contracts ------------------------------------------------------------


def test_deploy_dry_run_passes_the_validators(courier_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.yaml"
    done = msgen("deploy", "--k8s", str(courier_dir), "--overlay", "prod", "--dry-run", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert re.match(r"prod: \d+ resources built and valid \(.*\d+ Deployment", done.stderr), done.stderr
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    assert any(d["kind"] == "RabbitmqCluster" for d in docs)
    # the per-service objectives: pricing's and dispatch's own latency alerts, the system's for the others
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    latency = {r["expr"] for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "LatencyP95AboveSlo"}
    assert latency == {
        'service:http_request_duration_seconds:p95_5m{service!~"pricing|dispatch"} > 0.4',
        'service:http_request_duration_seconds:p95_5m{service="pricing"} > 0.05',
        'service:http_request_duration_seconds:p95_5m{service="dispatch"} > 0.2',
    }


def test_contracts_verify_passes(courier_dir: Path) -> None:
    done = msgen("contracts", "verify", str(courier_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All 8 pairs verified." in done.stdout


# -- regen after a spec change -------------------------------------------------------

# The user's quote: the zone's tariff, per kilometre, by the express factor.
QUOTE = """    from sqlalchemy import select

    from pricing_service.models import Tariff

    tariff = await session.scalar(select(Tariff).where(Tariff.zone == zone))
    if tariff is None:
        raise NotFound("Tariff of zone", zone)
    fee = tariff.base_fee + tariff.per_km * distance_km
    if express:
        fee *= tariff.express_factor
    return Quote(zone=zone, distance_km=distance_km, express=express, fee=round(fee, 2), currency=currency)
"""
CREATE_BEFORE = '    """Create a Tariff."""\n'
CREATE_AFTER = '    """Create a Tariff: a zone\'s prices, which quote_delivery reads."""\n'
FIELD_BEFORE = "          express_factor: { type: decimal, min: 1, max: 5, precision: 4, scale: 2, default: 1.5 }\n"
FIELD_AFTER = FIELD_BEFORE + "          retired: { type: bool, default: false, read_only: true }\n"
OPERATION_BEFORE = (
    "          rate_limit: { requests: 20, per: 1s, by: ip }  # public and cheap to ask: limited per client address\n"
)
OPERATION_AFTER = (
    OPERATION_BEFORE
    + """        retireTariff:
          method: POST
          path: /tariffs/{id}/retire
          entity: Tariff
          action: update
          sets: { retired: true }
          scopes: [tariffs:write]
"""
)


def test_regen_after_a_new_field_and_operation_keeps_the_hand_edits(courier: Generated, tmp_path: Path) -> None:
    project = write_generated(tmp_path / "courier", courier)
    handler = project / PRICING / "handlers" / "operations.py"
    _write_quote(project, QUOTE, "from msgen_runtime.problems import NotFound\n")
    tariffs = project / PRICING / "handlers" / "tariff.py"
    text = tariffs.read_text()
    assert text.count(CREATE_BEFORE) == 1
    tariffs.write_text(text.replace(CREATE_BEFORE, CREATE_AFTER))
    commit_all(project, "the quote, by hand")
    edit_spec(project, FIELD_BEFORE, FIELD_AFTER)
    edit_spec(project, OPERATION_BEFORE, OPERATION_AFTER)

    done = msgen("regen", str(project))
    assert done.returncode == 0, done.stdout + done.stderr

    assert QUOTE in handler.read_text()
    merged = tariffs.read_text()  # msgen's new handler and the user's edit, merged in one file
    assert CREATE_AFTER in merged and "<<<<<<<" not in merged
    assert "async def retire_tariff(" in merged
    assert "retired" in (project / PRICING / "models.py").read_text()
    assert "retireTariff" in (project / "contracts" / "openapi" / "pricing.v1.yaml").read_text()
    versions = sorted(p.name for p in (project / PRICING / "migrations" / "versions").glob("*.py"))
    assert versions[:1] == ["0001_initial.py"] and len(versions) == 2
    output = run_suite(project / "services" / "pricing")
    assert " passed" in output and "failed" not in output
    commit_all(project, "msgen regen")
    again = msgen("regen", str(project))
    assert again.returncode == 0, again.stdout + again.stderr
    assert git_status(project) == []
