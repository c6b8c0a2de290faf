"""The guard of a service's /admin routes: a bearer token (ADMIN_TOKEN); closed when none is configured."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, Request

from msgen_runtime.problems import Problem

__all__ = ["Closed", "Unauthorized", "require_token"]


class Unauthorized(Problem):
    def __init__(self) -> None:
        super().__init__(
            401,
            "Unauthorized",
            "the admin routes of this service ask for 'Authorization: Bearer <ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="admin"'},
        )


class Closed(Problem):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Forbidden",
            "the admin routes of this service are closed: it has no ADMIN_TOKEN",
        )


def require_token(token: str | None) -> Any:
    """A dependency refusing requests without `token` as their bearer token; refusing all when it is None.

    A service without an admin token never serves its admin routes (fail closed): `msgen up`
    makes one per project, the prod overlay takes it from a Secret.
    """

    async def check(request: Request) -> None:
        if not token:
            raise Closed()
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise Unauthorized()

    return Depends(check)
