"""Consumer-driven contracts: the pacts msgen writes, the tests that write them, and `msgen contracts verify`.

The verification is real: each provider's app under uvicorn with its states
stored in a scratch database, each publisher's messages built by its own event
types and Avro codec, all checked by Pact's own verifier.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msgen.cli import app
from msgen.generate import Generated, generate
from msgen.writer import write_project
from tests.pact_support import committed_pacts, write_pacts_from_consumer_tests
from tests.shop_suites import ShopSuites

SHOP_SPEC = Path(__file__).resolve().parents[1] / "examples" / "shop.yaml"
PAIRS = {
    ("inventory-service", "order-service"),
    ("inventory-service", "payment-service"),
    ("inventory-service", "product-service"),
    ("notification-service", "order-service"),
    ("order-service", "inventory-service"),
    ("order-service", "payment-service"),
    ("order-service", "product-service"),
    ("order-service", "user-service"),
    ("payment-service", "inventory-service"),
    ("payment-service", "order-service"),
}


def _pact(files: dict[str, str], consumer: str, provider: str) -> dict[str, object]:
    return json.loads(files[f"pacts/{consumer}-{provider}.json"])


def test_a_pact_for_every_call_and_every_event_a_service_reads(shop: Generated) -> None:
    pacts = [json.loads(text) for path, text in shop.files.items() if path.startswith("pacts/")]
    assert {(p["consumer"]["name"], p["provider"]["name"]) for p in pacts} == PAIRS

    product = _pact(shop.files, "order-service", "product-service")
    (get_product,) = product["interactions"]  # type: ignore[misc]
    assert get_product["type"] == "Synchronous/HTTP"
    assert get_product["providerStates"] == [
        {"name": "a Product exists", "params": {"id": "00000000-0000-4000-8000-000000000001"}}
    ]
    assert get_product["request"]["method"] == "GET"
    body = get_product["response"]["body"]["content"]
    assert {"id", "sku", "name", "price", "currency", "created_at"} <= set(body)
    # matched by type and format, not by value: a provider may add fields, not drop, retype or reshape one
    rules = {path: rule["matchers"][0] for path, rule in get_product["response"]["matchingRules"]["body"].items()}
    assert rules["$.name"] == {"match": "type"}
    assert rules["$.currency"] == {"match": "regex", "regex": "^(EUR|USD|GBP)$"}
    assert rules["$.price"]["regex"] == r"^-?\d+(\.\d+)?$"
    assert rules["$.created_at"]["match"] == "regex" and rules["$.id"]["match"] == "regex"

    payment = _pact(shop.files, "order-service", "payment-service")
    messages = {i["description"]: i for i in payment["interactions"]}  # type: ignore[attr-defined]
    assert set(messages) == {"payment.authorized v1", "payment.failed v1", "payment.refunded v1"}
    authorized = messages["payment.authorized v1"]
    assert authorized["type"] == "Asynchronous/Messages"
    assert authorized["metadata"]["event"] == "payment.authorized"
    assert set(authorized["contents"]["content"]) == {"order_id", "payment_id", "amount"}


def test_each_side_gets_its_test(shop: Generated) -> None:
    tests = {p for p in shop.files if "/tests/test_pact_" in p}
    assert tests == {
        "services/inventory/tests/test_pact_consumer.py",
        "services/inventory/tests/test_pact_provider.py",
        "services/notification/tests/test_pact_consumer.py",
        "services/order/tests/test_pact_consumer.py",
        "services/order/tests/test_pact_provider.py",
        "services/payment/tests/test_pact_consumer.py",
        "services/payment/tests/test_pact_provider.py",
        "services/product/tests/test_pact_provider.py",
        "services/user/tests/test_pact_provider.py",
        "sdk/python/tests/test_pact_consumer.py",  # the SDK's pact with the gateway (tests/test_sdk_pact.py)
    }
    consumer = shop.files["services/order/tests/test_pact_consumer.py"]
    assert "ProductClient(" in consumer and "await client.get_product(" in consumer  # the real client
    assert "event_reader(PAYMENT_AUTHORIZED, PAYMENT_FAILED, PAYMENT_REFUNDED)" in consumer


def test_the_consumer_tests_write_exactly_the_committed_pacts(shop_dir: Path, shop_suites: ShopSuites) -> None:
    """What msgen commits in pacts/ is what the consumers' own tests write, byte for byte.

    The consumers' suites run once per test run (tests/shop_suites.py): each removes its own pacts from
    the run's pact folder and its consumer tests write them again.
    """
    consumers = ["inventory", "notification", "order", "payment"]
    for service in consumers:
        shop_suites.sqlite(service)
    written = {p.name: p.read_text() for p in sorted(shop_suites.pacts.glob("*.json"))}
    assert written == committed_pacts(shop_dir)
    rewritten = set().union(*(shop_suites.written[service] for service in consumers))
    assert rewritten == set(written)  # every pact was written by its consumer's tests, none left from the copy


def _project(root: Path, spec_text: str) -> Path:
    root.mkdir(parents=True)
    spec = root / "spec.yaml"
    spec.write_text(spec_text)
    result = generate(spec)
    project = root / "project"
    write_project(project, result.files, result.system.spec_hash)
    return project


def _verify(project: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["contracts", "verify", str(project)])
    return result.exit_code, result.stdout, result.stderr


def test_contracts_verify_passes_for_the_generated_shop_and_fails_when_a_provider_breaks_them(tmp_path: Path) -> None:
    spec = SHOP_SPEC.read_text()
    project = _project(tmp_path / "v1", spec)
    code, out, err = _verify(project)
    assert code == 0, out + err
    assert "All 10 pairs verified." in out
    for consumer, provider in PAIRS:
        assert consumer in out and provider in out

    # The providers' next versions, deployed on their own: the product's sku becomes a number,
    # payment.authorized's payment_id any string. The consumers' pacts are the ones they committed.
    changed = spec.replace(
        'sku: { type: string, unique: true, max_length: 32, pattern: "^[A-Z0-9-]+$" }',
        "sku: { type: int, unique: true, min: 1 }",
    ).replace(
        "      payment_id: uuid\n      amount: { type: decimal, precision: 12, scale: 2 }\n  payment.failed:",
        "      payment_id: string\n      amount: { type: decimal, precision: 12, scale: 2 }\n  payment.failed:",
    )
    assert changed.count("type: int, unique: true") == 1 and "payment_id: string\n      amount" in changed
    next_version = _project(tmp_path / "v2", changed)
    for service in ("product", "payment"):
        shutil.rmtree(project / "services" / service)
        shutil.copytree(next_version / "services" / service, project / "services" / service)

    code, out, err = _verify(project)
    assert code == 1
    failed = {
        tuple(line.removesuffix(":").split(" (")[0].split(" -> "))
        for line in err.splitlines()
        if " -> " in line and line.endswith(".json):")
    }
    assert failed == {
        ("inventory-service", "product-service"),
        ("order-service", "product-service"),
        ("inventory-service", "payment-service"),
        ("order-service", "payment-service"),
    }
    assert "4 of 10 pairs failed verification." in err
    assert "$.sku" in err  # the verifier says which field broke
    assert "$.payment_id" in err


def test_contracts_verify_refuses_a_folder_without_pacts(tmp_path: Path) -> None:
    code, _, err = _verify(tmp_path)
    assert code == 2
    assert "pacts" in err


@pytest.mark.parametrize("broken", ["{not json", '{"consumer": {}}'])
def test_contracts_verify_names_a_file_that_is_no_pact(tmp_path: Path, broken: str) -> None:
    (tmp_path / "pacts").mkdir()
    (tmp_path / "pacts" / "a-b.json").write_text(broken)
    code, _, err = _verify(tmp_path)
    assert code == 2
    assert "a-b.json: not a pact file" in err


def test_a_provider_state_that_cannot_be_set_up_fails_its_pairs_at_once(tmp_path: Path) -> None:
    project = _project(tmp_path / "shop", SHOP_SPEC.read_text())
    provider_test = project / "services" / "product" / "tests" / "test_pact_provider.py"
    text = provider_test.read_text()
    assert text.count("seed(\n                database_url,") == 1
    # the state's database is one that cannot be opened
    provider_test.write_text(
        text.replace(
            "seed(\n                database_url,", 'seed(\n                "sqlite+aiosqlite:////nonexistent/db",'
        )
    )
    code, _, err = _verify(project)
    assert code == 1
    assert "2 of 10 pairs failed verification." in err
    assert "provider state 'a Product exists' could not be set up: OperationalError" in err


def test_a_pair_with_calls_and_events_and_a_provider_with_a_broker(tmp_path: Path) -> None:
    """Three services in a ring: each calls the previous one and reads its event, so each pair holds
    HTTP and message interactions, and each HTTP provider also publishes (its app runs without a broker)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from synthetic import synthetic_spec
    finally:
        sys.path.pop(0)
    project = _project(tmp_path / "ring", synthetic_spec(3))
    kinds = {
        path: sorted({i["type"] for i in json.loads(text)["interactions"]})
        for path, text in ((p.name, p.read_text()) for p in (project / "pacts").glob("*.json"))
    }
    assert kinds == {
        "svc001-service-svc003-service.json": ["Asynchronous/Messages"],  # the ring's one call goes the other way
        "svc002-service-svc001-service.json": ["Asynchronous/Messages", "Synchronous/HTTP"],
        "svc003-service-svc002-service.json": ["Asynchronous/Messages", "Synchronous/HTTP"],
    }
    written = write_pacts_from_consumer_tests(project, ["svc001", "svc002", "svc003"], tmp_path / "written")
    assert written == committed_pacts(project)
    code, out, err = _verify(project)
    assert code == 0, out + err
    assert "All 3 pairs verified." in out


MARKET_SPEC = Path(__file__).resolve().parent / "fixtures" / "market.yaml"


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(tmp_path_factory.mktemp("market") / "v1", MARKET_SPEC.read_text())


def test_every_kind_of_call_and_an_event_with_optional_fields_verify(market: Path, tmp_path: Path) -> None:
    (pact,) = [json.loads(p.read_text()) for p in (market / "pacts").glob("*.json")]
    described = sorted(i["description"] for i in pact["interactions"])
    assert described == [
        "createItem: POST /v1/items",
        "deleteItem: DELETE /v1/items/{id}",
        "getItem: GET /v1/items/{id}",
        "item.changed v1",
        "listItems: GET /v1/items",
        "updateItem: PATCH /v1/items/{id}",
    ]
    update = next(i for i in pact["interactions"] if i["description"].startswith("updateItem"))
    assert update["request"]["body"]["content"] != {}  # a real change, sent as the client sends it
    message = next(i for i in pact["interactions"] if i["description"] == "item.changed v1")
    assert "note" in message["contents"]["content"]  # optional fields are expected too, by type

    written = write_pacts_from_consumer_tests(market, ["shop"], tmp_path)
    assert written == committed_pacts(market)
    code, out, err = _verify(market)
    assert code == 0, out + err
    assert "All 1 pairs verified." in out


def _market_with_catalog(root: Path, market: Path, spec_text: str | None = None) -> Path:
    """The market with its consumer's committed pacts, and the catalog of `spec_text` (default: as it was)."""
    project = root / "project"
    shutil.copytree(market, project)
    if spec_text is not None:
        next_version = _project(root / "next", spec_text)
        shutil.rmtree(project / "services" / "catalog")
        shutil.copytree(next_version / "services" / "catalog", project / "services" / "catalog")
    return project


@pytest.mark.parametrize(
    ("change", "broken"),
    [
        ("an enum's values", "$.status"),
        ("a field of the listed items", "$.items[0] -> Actual map is missing the following keys: name"),
        ("an empty list", "$.items"),
    ],
)
def test_a_provider_change_the_consumer_relies_on_fails_verification(
    market: Path, tmp_path: Path, change: str, broken: str
) -> None:
    spec = MARKET_SPEC.read_text()
    if change == "an enum's values":
        project = _market_with_catalog(
            tmp_path,
            market,
            spec.replace("values: [DRAFT, LIVE], default: DRAFT", "values: [ACTIVE, RETIRED], default: ACTIVE"),
        )
    elif change == "a field of the listed items":
        project = _market_with_catalog(
            tmp_path,
            market,
            spec.replace("          name: { type: string, max_length: 100 }\n          status", "          status"),
        )
    else:
        project = _market_with_catalog(tmp_path, market)
        handler = project / "services" / "catalog" / "catalog_service" / "handlers" / "item.py"
        text = handler.read_text()
        assert text.count("items=[ItemRead.model_validate(row) for row in rows],") == 1
        handler.write_text(text.replace("items=[ItemRead.model_validate(row) for row in rows],", "items=[],"))
    code, _, err = _verify(project)
    assert code == 1
    assert "1 of 1 pairs failed verification." in err
    assert broken in err


def test_a_pact_whose_provider_is_not_in_the_project_fails(market: Path, tmp_path: Path) -> None:
    project = _market_with_catalog(tmp_path, market)
    document = json.loads((project / "pacts" / "shop-service-catalog-service.json").read_text())
    document["provider"]["name"] = "search-service"
    (project / "pacts" / "x.json").write_text(json.dumps(document))
    code, _out, err = _verify(project)
    assert code == 1
    assert "no service of" in err and "verifies search-service" in err
    assert "1 of 2 pairs failed verification." in err


def test_a_provider_whose_verification_crashes_fails_each_of_its_pairs(market: Path, tmp_path: Path) -> None:
    project = _market_with_catalog(tmp_path, market)
    provider_test = project / "services" / "catalog" / "tests" / "test_pact_provider.py"
    provider_test.write_text("raise SystemExit(3)\n" + provider_test.read_text())
    code, _out, err = _verify(project)
    assert code == 1
    assert "shop-service -> catalog-service (shop-service-catalog-service.json):" in err
    assert "the verification of catalog-service stopped (exit code 3)" in err


def test_a_project_without_pairs_has_nothing_to_verify(tmp_path: Path) -> None:
    spec = MARKET_SPEC.read_text()
    alone = spec[: spec.index("  shop:\n")] + spec[spec.index("events:\n") :].replace(
        "consumers: [shop]", "consumers: []"
    )
    project = _project(tmp_path / "alone", alone)
    assert not (project / "pacts").exists()
    code, out, err = _verify(project)
    assert code == 0, out + err
    assert "No pacts in" in out
