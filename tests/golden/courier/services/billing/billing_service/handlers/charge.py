"""Charge operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Charge
from billing_service.schemas import ChargePage, ChargeRead


async def list_charges(session: AsyncSession, page: PageParams) -> ChargePage:
    """List Charges."""
    rows, total = await crud.list_page(session, Charge, limit=page.limit, offset=page.offset)
    return ChargePage(
        items=[ChargeRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_charge(session: AsyncSession, id: UUID) -> ChargeRead:
    """Get a Charge by id."""
    charge = await crud.get_or_404(session, Charge, id)
    return ChargeRead.model_validate(charge)
