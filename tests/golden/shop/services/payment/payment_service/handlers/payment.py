"""Payment operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from payment_service.models import Payment
from payment_service.schemas import PaymentCreate, PaymentPage, PaymentRead


async def list_payments(session: AsyncSession, page: PageParams) -> PaymentPage:
    """List Payments."""
    rows, total = await crud.list_page(session, Payment, limit=page.limit, offset=page.offset)
    return PaymentPage(
        items=[PaymentRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_payment(session: AsyncSession, id: UUID) -> PaymentRead:
    """Get a Payment by id."""
    payment = await crud.get_or_404(session, Payment, id)
    return PaymentRead.model_validate(payment)


async def charge_payment(session: AsyncSession, payload: PaymentCreate) -> PaymentRead:
    """Create a Payment."""
    payment = await crud.create(session, Payment, crud.row_from(payload))
    return PaymentRead.model_validate(payment)
