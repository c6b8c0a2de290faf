"""Tables of the pricing service's own database (generated from the spec)."""

from decimal import Decimal

import sqlalchemy as sa
from msgen_runtime.entities import EntityMixin
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


class Tariff(EntityMixin, Base):
    """A Tariff."""

    __tablename__ = "tariffs"

    zone: Mapped[str] = mapped_column(sa.String(32), unique=True, nullable=False)
    base_fee: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), nullable=False)
    per_km: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), nullable=False)
    express_factor: Mapped[Decimal] = mapped_column(sa.Numeric(4, 2), nullable=False, default=Decimal("1.5"))


class SagaStep(SagaStepMixin, Base):
    """What this service did for each saga step it takes part in: each step acts once."""

    __tablename__ = "saga_steps"
