"""Tables of the billing service's own database (generated from the spec)."""

from decimal import Decimal
from uuid import UUID

import sqlalchemy as sa
from msgen_runtime.entities import EntityMixin
from msgen_runtime.messaging.consumer import DeadLetterMixin, InboxMessageMixin
from msgen_runtime.messaging.outbox import OutboxMessageMixin, OutboxPartitionMixin
from msgen_runtime.messaging.participant import SagaStepMixin
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Charge(EntityMixin, Base):
    """A Charge."""

    __tablename__ = "charges"

    # the id of a Delivery of the dispatch service: no foreign key across services
    delivery_id: Mapped[UUID] = mapped_column(sa.Uuid(), unique=True, nullable=False)
    fee: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(8), nullable=False, default="CAPTURED")


class OutboxMessage(OutboxMessageMixin, Base):
    """Events waiting to be relayed, written with the business change."""

    __tablename__ = "outbox"


class OutboxPartition(OutboxPartitionMixin, Base):
    """The partitions of the outbox a relay claims."""

    __tablename__ = "outbox_partitions"


class InboxMessage(InboxMessageMixin, Base):
    """Messages already handled: a redelivery has no second effect."""

    __tablename__ = "inbox"


class DeadLetter(DeadLetterMixin, Base):
    """Messages that could not be handled, for msgen dlq."""

    __tablename__ = "dead_letters"


class SagaStep(SagaStepMixin, Base):
    """What this service did for each saga step it takes part in: each step acts once."""

    __tablename__ = "saga_steps"
