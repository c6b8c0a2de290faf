"""Tables of the product service's own database (generated from the spec)."""

from datetime import date
from decimal import Decimal

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


class Product(EntityMixin, Base):
    """A Product."""

    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(sa.String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), nullable=False)
    currency: Mapped[str] = mapped_column(sa.String(3), nullable=False, default="EUR")
    image_url: Mapped[str | None] = mapped_column(sa.String(2048), nullable=True)
    released_on: Mapped[date | None] = mapped_column(sa.Date(), nullable=True)
