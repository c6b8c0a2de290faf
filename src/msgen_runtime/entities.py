"""The columns every generated entity has: a uuid id and two timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from msgen_runtime.types import UtcDateTime

__all__ = ["EntityMixin", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class EntityMixin:
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
