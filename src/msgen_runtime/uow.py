"""The unit of work: handlers only flush; the route commits once, conflicts become 409."""

from __future__ import annotations

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from msgen_runtime.middleware import committing
from msgen_runtime.problems import Conflict, Problem

__all__ = ["commit", "flush", "storage_problem"]


def storage_problem(exc: IntegrityError | DataError) -> Problem:
    first = str(exc.orig).strip().splitlines()[0][:200] if exc.orig is not None else ""
    if isinstance(exc, IntegrityError):
        return Conflict(f"conflicts with an existing resource: {first}")
    return Problem(422, "Unprocessable Content", f"a value cannot be stored: {first}")


async def flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except (IntegrityError, DataError) as exc:
        await session.rollback()
        raise storage_problem(exc) from None


async def commit(session: AsyncSession) -> None:
    """Commit the request's transaction; its deadline waits for the commit rather than cancel it midway."""
    try:
        with committing():
            await session.commit()
    except (IntegrityError, DataError) as exc:
        await session.rollback()
        raise storage_problem(exc) from None
