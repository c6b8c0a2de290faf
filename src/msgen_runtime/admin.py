"""The guard of a service's /admin routes: a bearer token, when the service is given one (ADMIN_TOKEN)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, Request

from msgen_runtime.problems import Problem


class Unauthorized(Problem):
    def __init__(self) -> None:
        super().__init__(
            401,
            "Unauthorized",
            "the admin routes of this service ask for 'Authorization: Bearer <ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="admin"'},
        )


def require_token(token: str | None) -> Any:
    """A dependency refusing requests without `token` as their bearer token; none when `token` is None.

    Without a token the routes are open, and only the network may reach them (the Kubernetes
    NetworkPolicies let no one but the namespace's own pods in).
    """

    async def check(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise Unauthorized()

    return Depends(check)
