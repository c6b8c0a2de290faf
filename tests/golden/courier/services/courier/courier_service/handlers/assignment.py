"""Assignment operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from courier_service.models import Assignment
from courier_service.schemas import AssignmentPage, AssignmentRead


async def list_assignments(session: AsyncSession, page: PageParams) -> AssignmentPage:
    """List Assignments."""
    rows, total = await crud.list_page(session, Assignment, limit=page.limit, offset=page.offset)
    return AssignmentPage(
        items=[AssignmentRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_assignment(session: AsyncSession, id: UUID) -> AssignmentRead:
    """Get an Assignment by id."""
    assignment = await crud.get_or_404(session, Assignment, id)
    return AssignmentRead.model_validate(assignment)
