"""Build a service's FastAPI application from its generated routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from msgen_runtime.db import Database
from msgen_runtime.health import health_router
from msgen_runtime.problems import install_problem_handlers


def create_service_app(
    *,
    title: str,
    version: str,
    description: str,
    database: Database,
    routers: Sequence[APIRouter],
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await database.dispose()

    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        separate_input_output_schemas=False,
    )
    install_problem_handlers(app)
    app.include_router(health_router({"database": database.ping}))
    for router in routers:
        app.include_router(router)
    app.state.database = database
    return app
