"""Custom operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime.problems import NotImplementedYet
from sqlalchemy.ext.asyncio import AsyncSession

from inventory_service.schemas import Availability


async def check_stock(session: AsyncSession, id: UUID) -> Availability:
    """checkStock."""
    raise NotImplementedYet("checkStock", "services/inventory/inventory_service/handlers/operations.py")
