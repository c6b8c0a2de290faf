"""Generic data access for generated entities: typed, paginated, conflicts as 409."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from msgen_runtime.entities import EntityMixin
from msgen_runtime.problems import Conflict, NotFound

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
    entity = model(**values)
    session.add(entity)
    await _commit(session, model)
    await session.refresh(entity)
    return entity


async def update(session: AsyncSession, model: type[E], ident: uuid.UUID, values: dict[str, Any]) -> E:
    entity = await get_or_404(session, model, ident)
    for name, value in values.items():
        setattr(entity, name, value)
    await _commit(session, model)
    await session.refresh(entity)
    return entity


async def delete(session: AsyncSession, model: type[E], ident: uuid.UUID) -> None:
    entity = await get_or_404(session, model, ident)
    await session.delete(entity)
    await _commit(session, model)


async def _commit(session: AsyncSession, model: type[Any]) -> None:
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"{model.__name__} conflicts with an existing one: {_constraint(exc)}") from None


def _constraint(exc: IntegrityError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "unique constraint"
    return text[:200]
