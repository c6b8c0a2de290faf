"""The baseline of the service benchmarks: a minimal hand-written FastAPI app.

GET /v1/products/{id} reads the same row of the same SQLite file as the generated
product service (benchmarks/service_overhead.py); POST /v1/rows inserts one row per
request into `bench_rows` of DATABASE_URL (benchmarks/saga.py --capacity). SQLAlchemy
async and nothing else: no logs, metrics, traces or cache.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

_url = os.environ["DATABASE_URL"]
# SQLite has one writer: one connection queues the writes instead of sleeping in the busy handler
engine = create_async_engine(_url, **({"pool_size": 1, "max_overflow": 0} if _url.startswith("sqlite") else {}))
sessions = async_sessionmaker(engine, expire_on_commit=False)
products = sa.Table(
    "products",
    sa.MetaData(),
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("sku", sa.String(32)),
    sa.Column("name", sa.String(200)),
    sa.Column("price", sa.Numeric(12, 2)),
    sa.Column("currency", sa.String(3)),
)
rows = sa.Table(
    "bench_rows",
    sa.MetaData(),
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("note", sa.String(200)),
)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    if os.environ.get("BENCH_ROWS"):
        async with engine.begin() as conn:
            await conn.run_sync(rows.metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/health/ready")
async def ready() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/products/{ident}")
async def get_product(ident: uuid.UUID) -> dict[str, Any]:
    async with sessions() as session:
        row = (await session.execute(sa.select(products).where(products.c.id == ident))).mappings().first()
    if row is None:
        raise HTTPException(404)
    return {
        "id": str(row["id"]),
        "sku": row["sku"],
        "name": row["name"],
        "price": str(row["price"]),
        "currency": row["currency"],
    }


class Note(BaseModel):
    note: str


@app.post("/v1/rows", status_code=201)
async def insert_row(body: Note) -> dict[str, str]:
    ident = uuid.uuid4()
    async with sessions() as session:
        await session.execute(sa.insert(rows).values(id=ident, note=body.note))
        await session.commit()
    return {"id": str(ident)}
