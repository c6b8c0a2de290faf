"""The whole story of living with generated code, as a user goes through it, with the real CLI and git.

Generate the shop, commit, edit a handler and a generated model, add a field to
an entity in the spec, run `msgen regen`: the edits are still there, the new
field is everywhere it belongs (model, migration, contract, schemas, the
consumers' clients and pacts), the consumers' tests write those very pacts, and
`msgen contracts verify` passes.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.pact_support import write_pacts_from_consumer_tests
from tests.regen_support import commit_all, git_status, msgen, msgen_new

SHOP_SPEC = Path(__file__).resolve().parents[1] / "examples" / "shop.yaml"

HANDLER_EDIT = (
    "    product = await crud.get_or_404(session, Product, id)\n"
    "    # Our edit: a product's name is shown trimmed, whatever was stored.\n"
    "    product.name = product.name.strip()\n"
)
MODEL_EDIT = '''
    def display_name(self) -> str:
        """Our edit: how the catalogue lists a product."""
        return f"{self.sku} {self.name}"
'''
NEW_FIELD = "          weight_grams: { type: int, min: 0, required: false }\n"


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))


def test_edit_then_change_the_spec_then_regen(tmp_path: Path) -> None:
    project = msgen_new(SHOP_SPEC, tmp_path / "shop")
    commit_all(project, "msgen new")
    product = project / "services" / "product"
    handler = product / "product_service" / "handlers" / "product.py"
    model = product / "product_service" / "models.py"

    _replace_once(handler, "    product = await crud.get_or_404(session, Product, id)\n", HANDLER_EDIT)
    _replace_once(model, '    __tablename__ = "products"\n', '    __tablename__ = "products"\n' + MODEL_EDIT)
    _replace_once(
        project / "msgen.yaml",
        "          released_on: { type: date, required: false }\n",
        "          released_on: { type: date, required: false }\n" + NEW_FIELD,
    )

    # Uncommitted work is not merged into without the user's say-so.
    refused = msgen("regen", str(project))
    assert refused.returncode != 0
    assert "--force" in refused.stderr + refused.stdout
    commit_all(project, "our edits, and a new field in the spec")

    done = msgen("regen", str(project))
    assert done.returncode == 0, done.stdout + done.stderr

    # The user's edits are still there, and nothing is left in conflict.
    assert HANDLER_EDIT in handler.read_text()
    assert MODEL_EDIT in model.read_text()
    assert "<<<<<<<" not in handler.read_text() + model.read_text()

    # The new field is everywhere it belongs.
    assert "weight_grams" in model.read_text()
    versions = sorted((product / "product_service" / "migrations" / "versions").glob("*.py"))
    assert [v.name[:4] for v in versions] == ["0001", "0002"]
    assert "weight_grams" not in versions[0].read_text()  # the applied revision is never rewritten
    assert "weight_grams" in versions[1].read_text()
    assert "weight_grams" in (project / "contracts" / "openapi" / "product.v1.yaml").read_text()
    assert "weight_grams" in (product / "product_service" / "schemas.py").read_text()
    for consumer in ("order", "inventory"):
        assert (
            "weight_grams"
            in (project / "services" / consumer / f"{consumer}_service" / "clients" / "product.py").read_text()
        )
        pact = json.loads((project / "pacts" / f"{consumer}-service-product-service.json").read_text())
        (get_product,) = pact["interactions"]
        assert "weight_grams" in get_product["response"]["body"]["content"]

    # The consumers' own tests write exactly the regenerated pacts...
    written = write_pacts_from_consumer_tests(project, ["order", "inventory"], tmp_path / "written-pacts")
    for consumer in ("order", "inventory"):
        name = f"{consumer}-service-product-service.json"
        assert written[name] == (project / "pacts" / name).read_text()

    # ...and every provider keeps them.
    verified = msgen("contracts", "verify", str(project))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "All 10 pairs verified." in verified.stdout

    # Following the spec again changes nothing.
    commit_all(project, "msgen regen")
    again = msgen("regen", str(project))
    assert again.returncode == 0, again.stdout + again.stderr
    assert git_status(project) == []
