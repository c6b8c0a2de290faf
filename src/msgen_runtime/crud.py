"""Generic data access for generated entities: typed, paginated, conflicts as 409.

These functions flush but never commit: the route commits once, so a handler
can make several changes (and an idempotent answer) in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from msgen_runtime.entities import EntityMixin
from msgen_runtime.problems import NotFound
from msgen_runtime.uow import flush

__all__ = ["create", "delete", "get_or_404", "list_page", "row_from", "update"]

E = TypeVar("E", bound=EntityMixin)


def row_from(payload: BaseModel, json_fields: Iterable[str] = (), *, partial: bool = False) -> dict[str, Any]:
    """Column values of a request body; value objects and lists become JSON-ready data."""
    json_names = set(json_fields)
    plain = payload.model_dump(exclude_unset=partial, exclude=json_names)
    as_json = payload.model_dump(mode="json", exclude_unset=partial, include=json_names)
    return {**plain, **as_json}


async def get_or_404(session: AsyncSession, model: type[E], ident: uuid.UUID) -> E:
    found = await session.get(model, ident)
    if found is None:
        raise NotFound(model.__name__, ident)
    return found


async def list_page(session: AsyncSession, model: type[E], *, limit: int, offset: int) -> tuple[list[E], int]:
    """One page in a stable order (creation time, then id), and the total count."""
    total = await session.scalar(select(func.count()).select_from(model))
    rows = await session.scalars(select(model).order_by(model.created_at, model.id).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def create(session: AsyncSession, model: type[E], values: dict[str, Any]) -> E:
    """Insert one entity. Every column's value is known once it is flushed (the defaults of `EntityMixin`
    are computed in Python, none on the server), so it is not read back."""
    entity = model(**values)
    session.add(entity)
    await flush(session)
    return entity


async def update(session: AsyncSession, model: type[E], ident: uuid.UUID, values: dict[str, Any]) -> E:
    entity = await get_or_404(session, model, ident)
    for name, value in values.items():
        setattr(entity, name, value)
    await flush(session)
    await session.refresh(entity)
    return entity


async def delete(session: AsyncSession, model: type[E], ident: uuid.UUID) -> None:
    entity = await get_or_404(session, model, ident)
    await session.delete(entity)
    await flush(session)
