"""A saga participant's ledger: each step acts at most once per saga, and never after the saga failed.

A participant learns about a saga from events of different topics, which arrive
in any order, more than once, and late: the step's trigger (`order.created`) may
come after the saga's failure event (`order.cancelled`) that undoes it. The
ledger keeps one row per (saga, key, step) and decides, under that row's lock:

- `apply` (on the trigger): True the first time only, and only if the step was
  not already compensated or refused; the handler then does the step's work.
- `compensate` (on a compensation trigger): True when the step was applied and
  not yet undone; the handler then undoes it. When the step was never applied,
  the row records REFUSED, so a trigger arriving later does nothing.

The common cases take one statement: `apply` inserts the row as APPLIED, and
`compensate` moves an APPLIED row to COMPENSATED, each acting when exactly one
row changed. Otherwise (the row exists, or is missing) the row is created with
an insert that ignores a conflict, then read with `SELECT ... FOR UPDATE`:
concurrent or redelivered messages of one saga step queue on that row (or on
the insert of its key), and exactly one of them acts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from msgen_runtime.entities import utcnow
from msgen_runtime.orm import insert_ignoring_conflict_statement, mapped, table_args
from msgen_runtime.tables import SAGA_STEPS

__all__ = ["Participant", "SagaStepMixin"]

PENDING, APPLIED, COMPENSATED, REFUSED = "PENDING", "APPLIED", "COMPENSATED", "REFUSED"
_log = logging.getLogger("msgen.saga.participant")


class SagaStepMixin:
    """Columns of a participant's saga_steps table: what it did for each saga step it takes part in."""

    __table_args__ = table_args(SAGA_STEPS)

    saga: Mapped[str] = mapped(SAGA_STEPS, "saga")
    key: Mapped[str] = mapped(SAGA_STEPS, "key")
    step: Mapped[str] = mapped(SAGA_STEPS, "step")
    status: Mapped[str] = mapped(SAGA_STEPS, "status")
    updated_at: Mapped[datetime] = mapped(SAGA_STEPS, "updated_at")


async def _insert_ignoring_conflict(session: AsyncSession, table: sa.Table, values: dict[str, Any]) -> Any:
    """Insert the ledger row unless it exists: one reused statement, the row's values as parameters."""
    return await session.execute(insert_ignoring_conflict_statement(session.get_bind().dialect.name, table), values)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Participant:
    """One step of one saga, as the service that performs it sees it."""

    saga: str
    step: str
    ledger: type[SagaStepMixin]

    def _values(self, key: str, status: str) -> dict[str, Any]:
        return {"saga": self.saga, "key": key, "step": self.step, "status": status, "updated_at": utcnow()}

    async def _take(self, session: AsyncSession, key: str) -> SagaStepMixin:
        table: sa.Table = self.ledger.__table__  # type: ignore[attr-defined]
        await _insert_ignoring_conflict(session, table, self._values(key, PENDING))
        row = (
            await session.execute(
                sa.select(self.ledger)
                .where(self.ledger.saga == self.saga, self.ledger.key == key, self.ledger.step == self.step)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        return row

    async def apply(self, session: AsyncSession, key: object) -> bool:
        """True when the caller must perform the step now (first trigger, saga not failed)."""
        table: sa.Table = self.ledger.__table__  # type: ignore[attr-defined]
        # The first message of this step: the row is born APPLIED (a concurrent insert of the same key
        # waits for this transaction, then finds the row and takes the path below).
        inserted = await _insert_ignoring_conflict(session, table, self._values(str(key), APPLIED))
        if _rowcount(inserted) == 1:
            return True
        row = await self._take(session, str(key))
        if row.status != PENDING:
            _log.info(
                "saga.step_not_applied",
                extra={"saga": self.saga, "step": self.step, "key": str(key), "ledger": row.status},
            )
            return False
        row.status = APPLIED
        row.updated_at = utcnow()
        return True

    async def compensate(self, session: AsyncSession, key: object) -> bool:
        """True when the caller must undo the step now; a step never applied is refused for good."""
        ledger = self.ledger
        undone = await session.execute(
            sa.update(ledger)
            .where(ledger.saga == self.saga, ledger.key == str(key), ledger.step == self.step, ledger.status == APPLIED)
            .values(status=COMPENSATED, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if _rowcount(undone) == 1:
            return True
        row = await self._take(session, str(key))
        if row.status == APPLIED:
            row.status = COMPENSATED
            row.updated_at = utcnow()
            return True
        if row.status == PENDING:
            row.status = REFUSED
            row.updated_at = utcnow()
            _log.info("saga.step_refused", extra={"saga": self.saga, "step": self.step, "key": str(key)})
        return False
