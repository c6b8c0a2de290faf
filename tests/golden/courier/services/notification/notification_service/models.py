"""Tables of the notification service's own database (generated from the spec)."""

from uuid import UUID

import sqlalchemy as sa
from msgen_runtime.entities import EntityMixin
from msgen_runtime.messaging.consumer import DeadLetterMixin, InboxMessageMixin
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Notice(EntityMixin, Base):
    """A Notice."""

    __tablename__ = "notices"

    # the id of a Delivery of the dispatch service: no foreign key across services
    delivery_id: Mapped[UUID] = mapped_column(sa.Uuid(), index=True, nullable=False)
    recipient: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(200), nullable=False)


class InboxMessage(InboxMessageMixin, Base):
    """Messages already handled: a redelivery has no second effect."""

    __tablename__ = "inbox"


class DeadLetter(DeadLetterMixin, Base):
    """Messages that could not be handled, for msgen dlq."""

    __tablename__ = "dead_letters"
