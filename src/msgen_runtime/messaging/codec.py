"""Avro encoding of events with fastavro, and the headers every message carries.

With SCHEMA_REGISTRY_URL set, payloads use the Confluent wire format (a zero
magic byte, the 4-byte schema id, then the Avro body) and schemas are
registered under the subject `<topic>-value`.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import fastavro
import httpx
from pydantic import BaseModel

__all__ = [
    "CONTENT_TYPE",
    "HEADER_CORRELATION",
    "HEADER_EVENT",
    "HEADER_KEY",
    "HEADER_MESSAGE_ID",
    "HEADER_TIMESTAMP",
    "HEADER_TRACEPARENT",
    "HEADER_VERSION",
    "DecodeError",
    "EventType",
    "SchemaRegistry",
    "now_iso",
]

P = TypeVar("P", bound=BaseModel)

HEADER_EVENT = "event"
HEADER_VERSION = "event-version"
HEADER_MESSAGE_ID = "message-id"
HEADER_CORRELATION = "x-correlation-id"
HEADER_TRACEPARENT = "traceparent"
HEADER_TIMESTAMP = "timestamp"
HEADER_KEY = "key"
CONTENT_TYPE = "avro/binary"


class DecodeError(Exception):
    """A message that cannot be decoded: poison, dead-lettered at once."""


@dataclass(frozen=True)
class EventType(Generic[P]):
    """One event of the spec at one version: its topic, payload model and Avro schema."""

    name: str
    version: int
    model: type[P]
    schema: dict[str, Any]
    key: str | None = None
    parsed: Any = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed", fastavro.parse_schema(self.schema))

    @property
    def topic(self) -> str:
        return self.name

    def key_of(self, payload: BaseModel) -> str | None:
        return str(getattr(payload, self.key)) if self.key else None

    def encode(self, payload: BaseModel, registry_id: int | None = None) -> bytes:
        buffer = io.BytesIO()
        if registry_id is not None:
            buffer.write(b"\x00" + struct.pack(">I", registry_id))
        fastavro.schemaless_writer(buffer, self.parsed, payload.model_dump(mode="python"))
        return buffer.getvalue()

    def decode(self, body: bytes, *, registry: bool = False) -> P:
        data = body
        if registry:
            if len(body) < 5 or body[0] != 0:
                raise DecodeError("not in the schema-registry wire format (magic byte 0 + schema id)")
            data = body[5:]
        try:
            record = fastavro.schemaless_reader(io.BytesIO(data), self.parsed, self.parsed)
            return self.model.model_validate(record)
        except Exception as exc:
            raise DecodeError(f"cannot decode {self.name} v{self.version}: {exc}") from exc


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class SchemaRegistry:
    """Registers each event schema once and remembers its id (Confluent REST API)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._ids: dict[tuple[str, int], int] = {}

    async def id_for(self, event: EventType[Any]) -> int:
        key = (event.name, event.version)
        if key not in self._ids:
            import json

            async with httpx.AsyncClient(timeout=5) as http:
                response = await http.post(
                    f"{self.url}/subjects/{event.topic}-value/versions",
                    json={"schema": json.dumps(event.schema)},
                    headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
                )
                response.raise_for_status()
                self._ids[key] = int(response.json()["id"])
        return self._ids[key]
