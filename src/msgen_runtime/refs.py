"""References to other services' entities, checked before a create is written.

A `ref` field names an entity of another service by id. When the service may
call that entity's `get` operation (the spec's `calls`), the generated create
asks for each id first: one its service does not know is refused with 422,
naming the field; when the service cannot be asked (down, circuit open, no
answer in time), the create is refused with that 503/504 rather than written
unchecked (fail closed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from uuid import UUID

from msgen_runtime.http import DownstreamRefused
from msgen_runtime.problems import Problem

__all__ = ["require"]


async def require(
    entity: str, refs: Iterable[tuple[list[str], UUID | None]], get: Callable[[UUID], Awaitable[Any]]
) -> None:
    """Every (place in the body, id) must name an existing `entity`, asked once per id through `get`."""
    places: dict[UUID, list[list[str]]] = {}
    for loc, ident in refs:
        if ident is not None:
            places.setdefault(ident, []).append(loc)
    missing: list[dict[str, Any]] = []
    for ident, locs in places.items():
        try:
            await get(ident)
        except DownstreamRefused as refused:
            if refused.response.status_code != 404:
                raise
            for loc in locs:
                missing.append({"loc": ["body", *loc], "msg": f"no {entity} {ident}", "type": "ref.not_found"})
    if missing:
        fields = ", ".join(".".join(error["loc"][1:]) for error in missing)
        raise Problem(
            422,
            "Unprocessable Content",
            f"{fields}: no such {entity}",
            extra={"errors": missing},
        )
