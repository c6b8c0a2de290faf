"""The two processes of benchmarks/http_path.py: a service on the runtime's HTTP stack, and a gateway before it.

`service` is `create_service_app` (correlation ids, metrics, logs, admission, the caller check,
problem+json) with two routes shaped like the order service's: a POST answering 201 with a short JSON
body (no database work, so the HTTP stack is what is measured) and the saga's status stream
(`status_stream` over a SQLite status log whose entities already reached their final status, as an
order has by the time a fast client opens its stream). `gateway` is `create_gateway_app` routing both.
Settings come from the environment (see benchmarks/http_path.py).
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from msgen_runtime.app import create_service_app
from msgen_runtime.gateway import GatewaySettings, Route, create_gateway_app
from msgen_runtime.messaging.saga import StatusLogMixin, status_stream
from msgen_runtime.settings import ServiceSettings

FINAL = frozenset({"CONFIRMED", "CANCELLED"})
ENTITIES = 50  # status logs of PENDING, RESERVED, CONFIRMED


class Base(DeclarativeBase):
    pass


class StatusLog(Base, StatusLogMixin):
    __tablename__ = "status_log"


def _fill(path: str) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with sa.create_engine(f"sqlite:///{path}").begin() as connection:
        StatusLog.metadata.create_all(connection)
        if connection.scalar(sa.select(sa.func.count()).select_from(StatusLog)):
            return
        for status in ("PENDING", "RESERVED", "CONFIRMED"):
            rows = [{"entity_id": str(e), "status": status, "cause": "bench", "at": at} for e in range(ENTITIES)]
            connection.execute(sa.insert(StatusLog.__table__), rows)


def service() -> FastAPI:
    path = os.environ["BENCH_STATUS_DB"]
    _fill(path)
    sessions = async_sessionmaker(create_async_engine(f"sqlite+aiosqlite:///{path}"), expire_on_commit=False)
    router = APIRouter()

    @router.post("/v1/things", status_code=201)
    async def create(body: dict[str, Any]) -> JSONResponse:
        return JSONResponse({"id": str(uuid.uuid4()), "status": "PENDING", **body}, status_code=201)

    @router.get("/v1/things/{id}/events")
    async def events(id: str, last_event_id: Annotated[str | None, Header()] = None) -> Any:
        return await status_stream(sessions, StatusLog, id, final=FINAL, last_event_id=last_event_id)

    settings = ServiceSettings(
        service_name="thing",
        database_url=f"sqlite+aiosqlite:///{path}.service",
        log_level=os.environ.get("LOG_LEVEL", "WARNING"),
        internal_auth_secret=os.environ["INTERNAL_AUTH_SECRET"],
    )
    return create_service_app(title="thing", version="v1", description="bench", settings=settings, routers=[router])


class _GatewaySettings(GatewaySettings):
    thing_url: str = "http://127.0.0.1:1"


def gateway() -> FastAPI:
    routes = (
        Route("POST", "/v1/things", "thing"),
        Route("GET", "/v1/things/{id}/events", "thing", idempotent_read=True, sse=True),
    )
    settings = _GatewaySettings(
        thing_url=os.environ["BENCH_SERVICE_URL"],
        log_level=os.environ.get("LOG_LEVEL", "WARNING"),
        rate_limit_requests=100_000_000,
        internal_auth_secret=os.environ["INTERNAL_AUTH_SECRET"],
    )
    return create_gateway_app(settings, routes)
