"""Tables of the notification service's own database (generated from the spec)."""

from datetime import datetime
from uuid import UUID

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


class Notification(EntityMixin, Base):
    """A Notification."""

    __tablename__ = "notifications"

    order_id: Mapped[UUID] = mapped_column(
        sa.Uuid(), index=True, nullable=False
    )  # id of order.Order (another service: no foreign key)
    recipient: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
