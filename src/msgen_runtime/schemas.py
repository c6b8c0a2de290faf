"""Base classes for generated request and response models."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ["ClientModel", "EventPayload", "PatchModel", "RequestModel", "ResponseModel"]


class RequestModel(BaseModel):
    """A request body: unknown keys are refused, so typos don't pass silently."""

    # pydantic's default regex engine (Rust's regex crate) matches in linear time: a pattern cannot be
    # made to backtrack on a hostile body. msgen accepts only patterns that engine compiles.
    model_config = ConfigDict(extra="forbid")


class PatchModel(RequestModel):
    """A partial update: every field may be left out, but a required one may not be set to null."""

    non_nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        nulled = sorted(n for n in self.model_fields_set & self.non_nullable if getattr(self, n) is None)
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The served schema says what the validator does: a non-nullable field may be left out, not sent as null."""
        schema = handler(core_schema)
        properties = handler.resolve_ref_schema(schema).get("properties", {})
        for name in cls.non_nullable:
            prop = properties.get(name)
            branches = prop.get("anyOf") if isinstance(prop, dict) else None
            if isinstance(branches, list) and {"type": "null"} in branches:
                kept = [b for b in branches if b != {"type": "null"}]
                rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
                properties[name] = {**kept[0], **rest} if len(kept) == 1 else {"anyOf": kept, **rest}
        return schema


class ResponseModel(BaseModel):
    """A response body read from an ORM object."""

    model_config = ConfigDict(from_attributes=True)


class ClientModel(BaseModel):
    """A model in a generated client: a tolerant reader, fields added by the provider are ignored."""

    model_config = ConfigDict(extra="ignore")


class EventPayload(BaseModel):
    """An event's payload, as its Avro schema says; unknown fields are ignored (tolerant reader)."""

    model_config = ConfigDict(extra="ignore")
