"""The Confluent wire format when SCHEMA_REGISTRY_URL is set.

No Confluent Schema Registry can run here (it needs a JVM and a Kafka cluster):
the registry is a small stand-in serving the two calls msgen makes, over real
HTTP. The bytes are checked against the wire format's definition (magic byte 0,
4-byte big-endian schema id, Avro body).
"""

from __future__ import annotations

import io
import json
import struct
import uuid
from collections.abc import Iterator
from typing import Any

import fastavro
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from msgen_runtime.messaging.codec import DecodeError, EventType, SchemaRegistry
from msgen_runtime.testing import serve_app

pytestmark = pytest.mark.anyio


class Ping(BaseModel):
    ping_id: uuid.UUID
    n: int


PING = EventType(
    name="test.pinged",
    version=1,
    model=Ping,
    key="ping_id",
    schema={
        "type": "record",
        "name": "Pinged",
        "fields": [
            {"name": "ping_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "n", "type": "long"},
        ],
    },
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def registry() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    calls: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/subjects/{subject}/versions")
    async def register(subject: str, request: Request) -> dict[str, int]:
        body = await request.json()
        calls.append(
            {"subject": subject, "schema": json.loads(body["schema"]), "type": request.headers["content-type"]}
        )
        return {"id": 42}

    with serve_app(app) as url:
        yield url, calls


async def test_payloads_carry_the_magic_byte_and_the_registered_id(registry: tuple[str, list[dict[str, Any]]]) -> None:
    url, calls = registry
    client = SchemaRegistry(url)
    schema_id = await client.id_for(PING)
    assert schema_id == 42 and await client.id_for(PING) == 42
    assert len(calls) == 1  # registered once, then remembered
    assert calls[0]["subject"] == "test.pinged-value"
    assert calls[0]["schema"] == PING.schema
    assert calls[0]["type"] == "application/vnd.schemaregistry.v1+json"

    payload = Ping(ping_id=uuid.uuid4(), n=7)
    wire = b"\x00" + struct.pack(">I", schema_id) + PING.encode(payload)
    assert wire[0] == 0 and struct.unpack(">I", wire[1:5]) == (42,)
    assert fastavro.schemaless_reader(io.BytesIO(wire[5:]), PING.parsed, PING.parsed)["n"] == 7
    assert PING.decode(wire, registry=True) == payload
    with pytest.raises(DecodeError, match="wire format"):
        PING.decode(PING.encode(payload), registry=True)
