"""Reservation operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from inventory_service.models import Reservation
from inventory_service.schemas import ReservationPage, ReservationRead


async def list_reservations(session: AsyncSession, page: PageParams) -> ReservationPage:
    """List Reservations."""
    rows, total = await crud.list_page(session, Reservation, limit=page.limit, offset=page.offset)
    return ReservationPage(
        items=[ReservationRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_reservation(session: AsyncSession, id: UUID) -> ReservationRead:
    """Get a Reservation by id."""
    reservation = await crud.get_or_404(session, Reservation, id)
    return ReservationRead.model_validate(reservation)
