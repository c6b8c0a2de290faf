"""RFC 9457 problem details: every error a service answers is application/problem+json."""

from __future__ import annotations

import logging
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "PROBLEM_JSON",
    "Conflict",
    "NotFound",
    "NotImplementedYet",
    "Problem",
    "install_problem_handlers",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("msgen.problems")


class Problem(Exception):
    """An error that maps to one problem+json answer."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class NotFound(Problem):
    def __init__(self, entity: str, ident: object) -> None:
        super().__init__(404, "Not Found", f"{entity} {ident} does not exist")


class Conflict(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(409, "Conflict", detail)


class NotImplementedYet(Problem):
    def __init__(self, operation: str, module: str) -> None:
        super().__init__(
            501,
            "Not Implemented",
            f"operation '{operation}' has no business logic yet: implement it in {module}",
        )


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    body = problem.body(instance=request.url.path)
    cid = correlation_id.get()
    if cid:
        body["correlation_id"] = cid
    return JSONResponse(
        body,
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        errors.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error — ours, FastAPI's, Starlette's, unexpected — as problem+json."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problem = Problem(
            422,
            "Unprocessable Content",
            "the request does not match the contract",
            extra={"errors": _validation_errors(exc)},
        )
        return problem_response(problem, request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        problem = Problem(exc.status_code, _reason(exc.status_code), str(exc.detail), headers=headers)
        return problem_response(problem, request)

    async def on_database_down(request: Request, exc: Exception) -> JSONResponse:
        # the database refused, dropped the connection, or the pool had none to give within its timeout:
        # the service cannot answer now, and says so (503, try again), as its readiness does
        _log.error(
            "database unavailable",
            extra={"path": request.url.path, "error": type(getattr(exc, "orig", None) or exc).__name__},
        )
        problem = Problem(
            503, "Service Unavailable", "the database is unavailable, try again", headers={"Retry-After": "1"}
        )
        return problem_response(problem, request)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error", extra={"path": request.url.path})
        problem = Problem(500, "Internal Server Error", "an unexpected error occurred")
        return problem_response(problem, request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for unavailable in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.add_exception_handler(unavailable, on_database_down)
    app.add_exception_handler(Exception, on_crash)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
