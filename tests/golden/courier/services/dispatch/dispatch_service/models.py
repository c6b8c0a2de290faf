"""Tables of the dispatch service's own database (generated from the spec)."""

from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from msgen_runtime.entities import EntityMixin
from msgen_runtime.idempotency import IdempotencyKeyMixin
from msgen_runtime.messaging.consumer import DeadLetterMixin, InboxMessageMixin
from msgen_runtime.messaging.outbox import OutboxMessageMixin, OutboxPartitionMixin
from msgen_runtime.messaging.saga import SagaStateMixin, StatusLogMixin
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Delivery(EntityMixin, Base):
    """A Delivery."""

    __tablename__ = "deliveries"

    # the id of a Customer of the customer service: no foreign key across services
    customer_id: Mapped[UUID] = mapped_column(sa.Uuid(), index=True, nullable=False)
    pickup: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), nullable=False)
    dropoff: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), nullable=False)
    zone: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    distance_km: Mapped[Decimal] = mapped_column(sa.Numeric(6, 2), nullable=False)
    express: Mapped[bool] = mapped_column(sa.Boolean(), nullable=False, default=False)
    fee: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), nullable=True)
    courier_id: Mapped[UUID | None] = mapped_column(sa.Uuid(), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="REQUESTED")


class IdempotencyKey(IdempotencyKeyMixin, Base):
    """Answers of this service's idempotent operations, by Idempotency-Key."""

    __tablename__ = "idempotency_keys"


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


class SagaState(SagaStateMixin, Base):
    """The state of each saga this service orchestrates."""

    __tablename__ = "saga_states"


class StatusLog(StatusLogMixin, Base):
    """Every status the saga's entity went through, in order."""

    __tablename__ = "status_log"
