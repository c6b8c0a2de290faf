"""The unit of work: handlers only flush; the route commits once, conflicts become 409."""

from __future__ import annotations

import re

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from msgen_runtime.middleware import committing
from msgen_runtime.problems import Conflict, Problem

__all__ = ["commit", "flush", "storage_problem"]

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_POSTGRES_KEY = re.compile(r"^Key \((.+?)\)=\(")  # "Key (email)=(a@b.c) already exists."
_POSTGRES_UNIQUE = "23505"


def conflicting_fields(exc: IntegrityError) -> list[str]:
    """The columns of the unique constraint `exc` broke, told by SQLite or PostgreSQL; [] for another breach.

    Only the column names are taken from the database's message: never its text, nor the values it quotes.
    """
    orig = exc.orig
    if orig is None:
        return []
    found = _SQLITE_UNIQUE.search(str(orig).strip().splitlines()[0] if str(orig).strip() else "")
    if found:  # "UNIQUE constraint failed: users.email, users.tenant"
        return [part.strip().rsplit(".", 1)[-1] for part in found.group(1).split(",")]
    for error in (orig, orig.__cause__):  # SQLAlchemy's asyncpg adapter keeps asyncpg's error as the cause
        if error is None:
            continue
        diag = getattr(error, "diag", None)  # psycopg
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        detail = getattr(error, "detail", None) or getattr(diag, "message_detail", None)
        if state == _POSTGRES_UNIQUE and isinstance(detail, str):
            key = _POSTGRES_KEY.match(detail)
            if key:
                return [part.strip().strip('"') for part in key.group(1).split(",")]
    return []


def storage_problem(exc: IntegrityError | DataError) -> Problem:
    if isinstance(exc, IntegrityError):
        fields = conflicting_fields(exc)
        if not fields:
            return Conflict("conflicts with an existing resource, or with a resource it refers to")
        named = " and ".join(fields)
        taken = "is" if len(fields) == 1 else "are"
        return Conflict(f"conflicts with an existing resource: its {named} {taken} already taken (must be unique)")
    first = str(exc.orig).strip().splitlines()[0][:200] if exc.orig is not None else ""
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
