"""Tables of the customer service's own database (generated from the spec)."""

from typing import Any

import sqlalchemy as sa
from msgen_runtime.entities import EntityMixin
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Customer(EntityMixin, Base):
    """A Customer."""

    __tablename__ = "customers"

    email: Mapped[str] = mapped_column(sa.String(320), unique=True, nullable=False)
    full_name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    home: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(), nullable=True)
