"""The JSON Schema of the spec language, for editors (yaml-language-server)."""

from __future__ import annotations

import json
from typing import Any

from msgen.spec import SpecFile

SCHEMA_ID = "https://msgen.dev/schema/msgen-spec.v1.json"


def spec_json_schema() -> dict[str, Any]:
    schema = SpecFile.model_json_schema(by_alias=True)
    # Fields may be written as a bare type name (`price: decimal`).
    for definition in schema.get("$defs", {}).values():
        for prop in definition.get("properties", {}).values():
            extra = prop.get("additionalProperties")
            if isinstance(extra, dict) and extra.get("$ref") == "#/$defs/FieldSpec":
                prop["additionalProperties"] = {"anyOf": [{"$ref": "#/$defs/FieldSpec"}, {"type": "string"}]}
    # `crud: [Product]` is short for `crud: {Product: {}}`.
    crud = schema["$defs"]["ApiSpec"]["properties"]["crud"]
    schema["$defs"]["ApiSpec"]["properties"]["crud"] = {
        "anyOf": [
            {k: v for k, v in crud.items() if k not in ("default", "title")},
            {"type": "array", "items": {"type": "string"}},
        ],
        "default": crud.get("default", {}),
        "title": crud.get("title", "Crud"),
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def spec_json_schema_text() -> str:
    return json.dumps(spec_json_schema(), indent=2, sort_keys=False) + "\n"
