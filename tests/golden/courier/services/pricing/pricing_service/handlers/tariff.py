"""Tariff operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from pricing_service.models import Tariff
from pricing_service.schemas import TariffCreate, TariffPage, TariffRead, TariffUpdate


async def list_tariffs(session: AsyncSession, page: PageParams) -> TariffPage:
    """List Tariffs."""
    rows, total = await crud.list_page(session, Tariff, limit=page.limit, offset=page.offset)
    return TariffPage(
        items=[TariffRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_tariff(session: AsyncSession, id: UUID) -> TariffRead:
    """Get a Tariff by id."""
    tariff = await crud.get_or_404(session, Tariff, id)
    return TariffRead.model_validate(tariff)


async def create_tariff(session: AsyncSession, payload: TariffCreate) -> TariffRead:
    """Create a Tariff."""
    tariff = await crud.create(session, Tariff, crud.row_from(payload))
    return TariffRead.model_validate(tariff)


async def update_tariff(session: AsyncSession, id: UUID, payload: TariffUpdate) -> TariffRead:
    """Update a Tariff."""
    values = crud.row_from(payload, partial=True)
    tariff = await crud.update(session, Tariff, id, values)
    return TariffRead.model_validate(tariff)


async def delete_tariff(session: AsyncSession, id: UUID) -> None:
    """Delete a Tariff."""
    await crud.delete(session, Tariff, id)
