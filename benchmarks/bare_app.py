"""The baseline of benchmarks/service_overhead.py: a minimal hand-written FastAPI app.

It reads the same row of the same SQLite file as the generated product service,
with SQLAlchemy async, and nothing else: no logs, metrics, traces or cache.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine(os.environ["DATABASE_URL"])
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


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
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
