"""The columns every generated entity has: a uuid id and two timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Mapped

from msgen_runtime.orm import mapped
from msgen_runtime.tables import entity_table

__all__ = ["EntityMixin", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


# the columns every entity table starts with (its own name does not matter here)
_ENTITY = entity_table("entities", ())


class EntityMixin:
    id: Mapped[uuid.UUID] = mapped(_ENTITY, "id", default=uuid.uuid4)
    # indexed under the table's own name (ix_<table>_created_at), which only the generated model knows
    created_at: Mapped[datetime] = mapped(_ENTITY, "created_at", default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped(_ENTITY, "updated_at", default=utcnow, onupdate=utcnow)
