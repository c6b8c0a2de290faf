"""Idempotency-Key: a retried request has one effect and gets the first answer again.

A key is claimed in its own short transaction (the primary key makes concurrent
duplicates collide); the answer is stored in the request's transaction, beside
the business change, so both are committed together or not at all.

A claim is a lease: its `created_at` is the claim's stamp, and an in-flight key
whose stamp is older than the lease (the request deadline plus a margin) belongs
to an attempt that died with its process, so a retry takes it over with one
conditional UPDATE. The answer is stored only where the stamp is still the
attempt's own: an attempt that outlived its lease finds its key taken over and
rolls its business change back, so a key has one effect whatever the timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped

from msgen_runtime.callers import current_caller
from msgen_runtime.db import get_session
from msgen_runtime.entities import utcnow
from msgen_runtime.orm import mapped, table_args
from msgen_runtime.problems import Problem
from msgen_runtime.tables import IDEMPOTENCY_KEYS
from msgen_runtime.uow import commit

__all__ = [
    "DONE",
    "IN_FLIGHT",
    "RELEASE_SECONDS",
    "REPLAYED_HEADER",
    "Idempotency",
    "IdempotencyKeyMixin",
    "caller_scoped",
    "idempotency_dependency",
    "purge_expired",
    "request_hash",
]

IN_FLIGHT = "in_flight"
DONE = "done"
REPLAYED_HEADER = "Idempotent-Replayed"
RELEASE_SECONDS = 2.0  # the longest a failed attempt spends freeing its key
_log = logging.getLogger("msgen.idempotency")


class IdempotencyKeyMixin:
    """Columns of a service's idempotency_keys table (the generated models declare the table)."""

    __table_args__ = table_args(IDEMPOTENCY_KEYS)

    operation: Mapped[str] = mapped(IDEMPOTENCY_KEYS, "operation")
    key: Mapped[str] = mapped(IDEMPOTENCY_KEYS, "key")
    request_hash: Mapped[str] = mapped(IDEMPOTENCY_KEYS, "request_hash")
    state: Mapped[str] = mapped(IDEMPOTENCY_KEYS, "state")
    status_code: Mapped[int | None] = mapped(IDEMPOTENCY_KEYS, "status_code")
    response_body: Mapped[str | None] = mapped(IDEMPOTENCY_KEYS, "response_body")
    location: Mapped[str | None] = mapped(IDEMPOTENCY_KEYS, "location")
    created_at: Mapped[datetime] = mapped(IDEMPOTENCY_KEYS, "created_at")
    expires_at: Mapped[datetime] = mapped(IDEMPOTENCY_KEYS, "expires_at")


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
    lease: timedelta = timedelta(seconds=30)
    deadline: timedelta = timedelta(seconds=10)  # the request deadline: a younger claim is answered soon
    _stamp: datetime | None = field(default=None, init=False, repr=False)  # when this attempt claimed the key
    _landing: datetime | None = field(default=None, init=False, repr=False)  # a claim whose commit did not return

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
        if self.key is not None:  # without a key there is nothing to compare the body with
            replay = await self._claim(operation, request_hash(payload))
            if replay is not None:
                return replay
        try:
            result = await produce()
            answer = body(result) if body is not None and result is not None else result
            content = answer.model_dump(mode="json") if answer is not None else None
            where = location(result) if location is not None else None
            if self.key is not None:
                m = self.model
                stored = await self.session.execute(
                    sa.update(m)
                    .where(
                        m.operation == operation, m.key == self.key, m.state == IN_FLIGHT, m.created_at == self._stamp
                    )
                    .values(
                        state=DONE,
                        status_code=status_code,
                        response_body=json.dumps(content),
                        location=where,
                    )
                )
                if _rowcount(stored) != 1:  # our lease ran out and a retry took the key over: no effect of ours
                    raise _busy("this request outlived its Idempotency-Key lease and was rolled back: retry", 1)
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
        self._landing = None
        try:
            return await self._try_claim(operation, fingerprint)
        except BaseException:
            if self._landing is not None:  # a claim whose COMMIT did not return: free it, once its session is closed
                self._stamp = self._landing
                await self._release(operation)
            raise

    async def _try_claim(self, operation: str, fingerprint: str) -> Response | None:
        m = self.model
        for _attempt in range(3):
            now = utcnow()
            async with self.sessions() as claim:
                claim.add(
                    m(  # type: ignore[call-arg]  # a mapped subclass takes its columns
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
                    self._stamp = now
                    return None
                except IntegrityError:
                    await claim.rollback()
                except BaseException:  # cancelled or failed while COMMIT awaited its reply: it may have landed
                    self._landing = now
                    raise
                found = await claim.get(m, (operation, self.key))
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
                    held_until = found.created_at + self.lease
                    if held_until > now:
                        # within its deadline the first attempt ends soon; past it, only its lease can end
                        live = found.created_at + self.deadline > now
                        raise _busy(
                            "a request with this Idempotency-Key is still being processed: retry later",
                            1 if live else (held_until - now).total_seconds(),
                        )
                    # The lease ran out: the attempt holding it died. Take it over, unless another retry did first.
                    stamp = max(now, found.created_at + timedelta(microseconds=1))
                    taken = await claim.execute(
                        sa.update(m)
                        .where(
                            m.operation == operation,
                            m.key == self.key,
                            m.state == IN_FLIGHT,
                            m.created_at == found.created_at,
                        )
                        .values(created_at=stamp, expires_at=stamp + self.ttl)
                    )
                    try:
                        await claim.commit()
                    except BaseException:
                        self._landing = stamp
                        raise
                    if _rowcount(taken) == 1:
                        self._stamp = stamp
                        _log.warning(
                            "idempotency.taken_over",
                            extra={"operation": operation, "claimed_at": found.created_at.isoformat()},
                        )
                        return None
                    continue  # someone else took it over or finished it: look again
                headers = {REPLAYED_HEADER: "true"}
                if found.location:
                    headers["Location"] = found.location
                status = found.status_code or 200
                if status == 204:
                    return Response(status_code=204, headers=headers)
                return JSONResponse(json.loads(found.response_body or "null"), status_code=status, headers=headers)
        raise _busy("this Idempotency-Key is contended: retry later", 1)

    async def _release(self, operation: str) -> None:
        """Free our claim for a retry, within a bound: when it cannot be done now, the lease frees it later."""
        try:
            async with asyncio.timeout(RELEASE_SECONDS), self.sessions() as release:
                await release.execute(
                    sa.delete(self.model).where(
                        self.model.operation == operation,
                        self.model.key == self.key,
                        self.model.state == IN_FLIGHT,
                        self.model.created_at == self._stamp,  # only our own claim, never a retry's takeover
                    )
                )
                await release.commit()
        except Exception as exc:  # TimeoutError, the pool exhausted, the database away
            _log.warning("idempotency.release_failed", extra={"operation": operation, "error": type(exc).__name__})


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _busy(detail: str, retry_after: float) -> Problem:
    return Problem(409, "Conflict", detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


async def purge_expired(sessions: async_sessionmaker[AsyncSession], model: type[IdempotencyKeyMixin]) -> int:
    """Delete keys past their time to live; returns how many."""
    async with sessions() as session:
        result = await session.execute(sa.delete(model).where(model.expires_at < utcnow()))
        await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


def caller_scoped(key: str | None) -> str | None:
    """The key as stored: a verified caller's keys are theirs alone (another user's same key is another key).

    The caller's guard runs before this dependency (it is the route's own dependency), so the caller is
    known; without one (dev mode, no credential) keys are shared by everyone who calls the service.
    """
    caller = current_caller()
    if key is None or caller is None:
        return key
    return hashlib.sha256(f"{caller.issuer}\x00{caller.subject}\x00{key}".encode()).hexdigest()


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
            key=caller_scoped(idempotency_key),
            session=session,
            sessions=request.app.state.database.sessions,
            model=model,
            ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
            lease=timedelta(seconds=settings.idempotency_lease()),
            deadline=timedelta(seconds=settings.request_timeout_seconds),
        )

    return dependency
