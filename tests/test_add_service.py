"""msgen add-service: the spec gains a service, every other byte of it stays, and the service is generated."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from msgen import regen as r
from msgen.add_service import AddServiceError, add_service, add_service_text
from msgen.errors import SpecError
from msgen.generate import Generated
from msgen.loader import load_spec_text
from msgen.resolve import resolve
from tests.conftest import SHOP_SPEC
from tests.regen_support import SMALL_SPEC, msgen, new_project, tree, write_generated


def test_the_shop_keeps_every_line_comment_and_order() -> None:
    text = SHOP_SPEC.read_text()
    edited = add_service_text(text, "review", description="Reviews of products.")
    opcodes = difflib.SequenceMatcher(None, text.splitlines(), edited.splitlines(), autojunk=False).get_opcodes()
    assert [tag for tag, *_ in opcodes if tag != "equal"] == ["insert"]  # nothing else moved or changed
    added = next(edited.splitlines()[j1:j2] for tag, _, _, j1, j2 in opcodes if tag == "insert")
    assert added == [
        "  review:",
        "    description: Reviews of products.",
        "    entities:",
        "      Review:",
        "        fields:",
        "          name: string",
        "    api:",
        "      crud: [Review]",
        "",
    ]
    assert edited.index("  review:") < edited.index("\nevents:")  # at the end of services, a blank line after
    assert '# The "Place Order" system' in edited and "{ type: email, unique: true }" in edited
    system = resolve(load_spec_text(edited, "shop.yaml"))
    assert [s.name for s in system.services][-1] == "review"


def test_a_flow_style_spec_and_an_entity_name() -> None:
    text = "msgen: 1\nsystem: { name: x }\nservices:\n  a:\n    entities: { A: { fields: { n: string } } }\n"
    edited = add_service_text(text, "order_item", entity="Line")
    assert edited.startswith(text)
    assert "  order_item:\n    description: The order_item service.\n" in edited
    assert "      crud: [Line]\n" in edited
    assert "entities" not in add_service_text(text, "bare", entity="").split("bare:")[1]


def test_an_existing_name_is_refused() -> None:
    with pytest.raises(AddServiceError, match="already declared"):
        add_service_text(SMALL_SPEC, "catalog")
    with pytest.raises(AddServiceError, match="no 'services' mapping"):
        add_service_text("msgen: 1\n", "x")


def test_add_service_generates_it_into_the_project(shop: Generated, tmp_path: Path) -> None:
    root = write_generated(tmp_path / "shop", shop)
    done = add_service(root, "review")
    assert not done.conflicts
    spec = (root / "msgen.yaml").read_text()
    assert spec.startswith("# yaml-language-server: $schema=schema/msgen-spec.v1.json\n")  # comments kept
    assert "  review:\n" in spec
    package = root / "services/review/review_service"
    assert (package / "handlers/review.py").is_file()
    assert (package / "migrations/versions/0001_initial.py").is_file()
    assert (root / "contracts/openapi/review.v1.yaml").is_file()
    assert (root / "deploy/k8s/base/workloads/review-service.yaml").is_file()
    assert "review" in (root / "deploy/compose.yaml").read_text()
    assert r.plan(root).is_noop


def test_an_invalid_name_writes_nothing(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    before = tree(root)
    with pytest.raises(SpecError) as caught:
        add_service(root, "Bad-Name")
    assert "Bad-Name" in str(caught.value)
    assert tree(root) == before


def test_the_cli(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    done = msgen("add-service", "billing", str(root), "--description", "Invoices.")
    assert done.returncode == 0, done.stderr
    assert "Added service billing" in done.stdout
    assert "services/billing/billing_service/main.py" in done.stdout
    assert "description: Invoices." in (root / "msgen.yaml").read_text()
    again = msgen("add-service", "billing", str(root))
    assert again.returncode == 2 and "already declared" in again.stderr
