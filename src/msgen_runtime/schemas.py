"""Base classes for generated request and response models."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator


class RequestModel(BaseModel):
    """A request body: unknown keys are refused, so typos don't pass silently."""

    # python-re: any pattern the spec's Python regex accepts works here too (look-around included).
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")


class PatchModel(RequestModel):
    """A partial update: every field may be left out, but a required one may not be set to null."""

    non_nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        nulled = sorted(n for n in self.model_fields_set & self.non_nullable if getattr(self, n) is None)
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self


class ResponseModel(BaseModel):
    """A response body read from an ORM object."""

    model_config = ConfigDict(from_attributes=True, regex_engine="python-re")


class ClientModel(BaseModel):
    """A model in a generated client: a tolerant reader, fields added by the provider are ignored."""

    model_config = ConfigDict(extra="ignore", regex_engine="python-re")


class EventPayload(BaseModel):
    """An event's payload, as its Avro schema says; unknown fields are ignored (tolerant reader)."""

    model_config = ConfigDict(extra="ignore", regex_engine="python-re")
