"""User operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import User
from user_service.schemas import UserCreate, UserPage, UserRead, UserUpdate


async def list_users(session: AsyncSession, page: PageParams) -> UserPage:
    """List Users."""
    rows, total = await crud.list_page(session, User, limit=page.limit, offset=page.offset)
    return UserPage(
        items=[UserRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_user(session: AsyncSession, id: UUID) -> UserRead:
    """Get an User by id."""
    user = await crud.get_or_404(session, User, id)
    return UserRead.model_validate(user)


async def create_user(session: AsyncSession, payload: UserCreate) -> UserRead:
    """Create an User."""
    user = await crud.create(session, User, crud.row_from(payload, ("address",)))
    return UserRead.model_validate(user)


async def update_user(session: AsyncSession, id: UUID, payload: UserUpdate) -> UserRead:
    """Update an User."""
    values = crud.row_from(payload, ("address",), partial=True)
    user = await crud.update(session, User, id, values)
    return UserRead.model_validate(user)


async def delete_user(session: AsyncSession, id: UUID) -> None:
    """Delete an User."""
    await crud.delete(session, User, id)
