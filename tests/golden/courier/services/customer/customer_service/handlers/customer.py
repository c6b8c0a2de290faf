"""Customer operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from customer_service.models import Customer
from customer_service.schemas import CustomerCreate, CustomerPage, CustomerRead, CustomerUpdate


async def list_customers(session: AsyncSession, page: PageParams) -> CustomerPage:
    """List Customers."""
    rows, total = await crud.list_page(session, Customer, limit=page.limit, offset=page.offset)
    return CustomerPage(
        items=[CustomerRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_customer(session: AsyncSession, id: UUID) -> CustomerRead:
    """Get a Customer by id."""
    customer = await crud.get_or_404(session, Customer, id)
    return CustomerRead.model_validate(customer)


async def create_customer(session: AsyncSession, payload: CustomerCreate) -> CustomerRead:
    """Create a Customer."""
    customer = await crud.create(session, Customer, crud.row_from(payload, ("home",)))
    return CustomerRead.model_validate(customer)


async def update_customer(session: AsyncSession, id: UUID, payload: CustomerUpdate) -> CustomerRead:
    """Update a Customer."""
    values = crud.row_from(payload, ("home",), partial=True)
    customer = await crud.update(session, Customer, id, values)
    return CustomerRead.model_validate(customer)


async def delete_customer(session: AsyncSession, id: UUID) -> None:
    """Delete a Customer."""
    await crud.delete(session, Customer, id)
