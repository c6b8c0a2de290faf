"""Idempotency-Key: a retried request has one effect and gets the first answer again.

A key is claimed in its own short transaction (the primary key makes concurrent
duplicates collide); the answer is stored in the request's transaction, beside
the business change, so both are committed together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from msgen_runtime.db import get_session
from msgen_runtime.entities import utcnow
from msgen_runtime.problems import Problem
from msgen_runtime.types import UtcDateTime
from msgen_runtime.uow import commit

IN_FLIGHT = "in_flight"
DONE = "done"
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyMixin:
    """Columns of a service's idempotency_keys table (the generated models declare the table)."""

    operation: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16))
    status_code: Mapped[int | None] = mapped_column(sa.Integer(), nullable=True)
    response_body: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    location: Mapped[str | None] = mapped_column(sa.String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


def request_hash(payload: BaseModel | None) -> str:
    """The fingerprint of a request body, independent of key order and whitespace."""
    data = payload.model_dump(mode="json") if payload is not None else None
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Idempotency:
    """Runs one request at most once per Idempotency-Key."""

    key: str | None
    session: AsyncSession
    sessions: async_sessionmaker[AsyncSession]
    model: type[IdempotencyKeyMixin]
    ttl: timedelta

    async def run(
        self,
        operation: str,
        payload: BaseModel | None,
        produce: Callable[[], Awaitable[BaseModel | None]],
        *,
        status_code: int,
        location: Callable[[Any], str] | None = None,
        body: Callable[[Any], BaseModel] | None = None,
    ) -> Response:
        """Answer from the stored response, or produce it, store it and commit both together."""
        fingerprint = request_hash(payload)
        if self.key is not None:
            replay = await self._claim(operation, fingerprint)
            if replay is not None:
                return replay
        try:
            result = await produce()
            answer = body(result) if body is not None and result is not None else result
            content = answer.model_dump(mode="json") if answer is not None else None
            where = location(result) if location is not None else None
            if self.key is not None:
                await self.session.execute(
                    sa.update(self.model)
                    .where(self.model.operation == operation, self.model.key == self.key)
                    .values(
                        state=DONE,
                        status_code=status_code,
                        response_body=json.dumps(content),
                        location=where,
                    )
                )
            await commit(self.session)
        except BaseException:
            await self.session.rollback()
            if self.key is not None:
                await self._release(operation)
            raise
        headers = {"Location": where} if where else {}
        if status_code == 204:
            return Response(status_code=204, headers=headers)
        return JSONResponse(content, status_code=status_code, headers=headers)

    async def _claim(self, operation: str, fingerprint: str) -> Response | None:
        now = utcnow()
        for _attempt in range(2):
            async with self.sessions() as claim:
                claim.add(
                    self.model(  # type: ignore[call-arg]  # a mapped subclass takes its columns
                        operation=operation,
                        key=self.key,
                        request_hash=fingerprint,
                        state=IN_FLIGHT,
                        created_at=now,
                        expires_at=now + self.ttl,
                    )
                )
                try:
                    await claim.commit()
                    return None
                except IntegrityError:
                    await claim.rollback()
                found = await claim.get(self.model, (operation, self.key))
                if found is None:
                    continue  # released meanwhile: claim again
                if found.expires_at <= now:
                    await claim.delete(found)
                    await claim.commit()
                    continue
                if found.request_hash != fingerprint:
                    raise Problem(
                        422,
                        "Unprocessable Content",
                        "this Idempotency-Key was already used with a different request body",
                    )
                if found.state != DONE:
                    raise Problem(
                        409,
                        "Conflict",
                        "a request with this Idempotency-Key is still being processed: retry later",
                        headers={"Retry-After": "1"},
                    )
                headers = {REPLAYED_HEADER: "true"}
                if found.location:
                    headers["Location"] = found.location
                status = found.status_code or 200
                if status == 204:
                    return Response(status_code=204, headers=headers)
                return JSONResponse(json.loads(found.response_body or "null"), status_code=status, headers=headers)
        raise Problem(409, "Conflict", "this Idempotency-Key is contended: retry later", headers={"Retry-After": "1"})

    async def _release(self, operation: str) -> None:
        async with self.sessions() as release:
            await release.execute(
                sa.delete(self.model).where(
                    self.model.operation == operation, self.model.key == self.key, self.model.state == IN_FLIGHT
                )
            )
            await release.commit()


async def purge_expired(sessions: async_sessionmaker[AsyncSession], model: type[IdempotencyKeyMixin]) -> int:
    """Delete keys past their time to live; returns how many."""
    async with sessions() as session:
        result = await session.execute(sa.delete(model).where(model.expires_at < utcnow()))
        await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


def idempotency_dependency(model: type[IdempotencyKeyMixin]) -> Callable[..., Awaitable[Idempotency]]:
    """A FastAPI dependency giving the request's Idempotency helper."""

    async def dependency(
        request: Request,
        session: Annotated[AsyncSession, Depends(get_session)],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                description="Makes a retry of this request safe: the first answer is replayed.",
            ),
        ] = None,
    ) -> Idempotency:
        settings = request.app.state.settings
        return Idempotency(
            key=idempotency_key,
            session=session,
            sessions=request.app.state.database.sessions,
            model=model,
            ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
        )

    return dependency
