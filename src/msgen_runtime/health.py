"""Liveness and readiness probes (Kubernetes and `msgen up` both use them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

__all__ = ["Check", "health_router"]

Check = Callable[[], Awaitable[bool]]


def health_router(checks: Mapping[str, Check]) -> APIRouter:
    """/health/live answers while the process runs; /health/ready when every check passes."""
    router = APIRouter(tags=["health"])

    @router.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        results = {name: await check() for name, check in checks.items()}
        ok = all(results.values())
        body = {
            "status": "ok" if ok else "unavailable",
            "checks": {k: "ok" if v else "failing" for k, v in results.items()},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    return router
