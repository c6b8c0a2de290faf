"""Routes of the dispatch service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, Response
from msgen_runtime import crud
from msgen_runtime.db import get_session
from msgen_runtime.idempotency import Idempotency, idempotency_dependency
from msgen_runtime.messaging.saga import settle, status_stream
from msgen_runtime.pagination import PageParams, page_params
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse

from dispatch_service import handlers
from dispatch_service.models import Delivery, IdempotencyKey, StatusLog
from dispatch_service.schemas import DeliveryAccepted, DeliveryCreate, DeliveryPage, DeliveryRead

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]
IdempotencyDep = Annotated[Idempotency, Depends(idempotency_dependency(IdempotencyKey))]


@router.get(
    "/deliveries",
    operation_id="listDeliveries",
    summary="List Deliveries",
    status_code=200,
    openapi_extra={"x-scopes": ["deliveries:read"]},
)
async def list_deliveries(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> DeliveryPage:
    """List Deliveries."""
    return await handlers.delivery.list_deliveries(session, page)


@router.get(
    "/deliveries/{id}",
    operation_id="getDelivery",
    summary="Get a Delivery by id",
    status_code=200,
    openapi_extra={"x-scopes": ["deliveries:read"]},
)
async def get_delivery(session: SessionDep, id: UUID) -> DeliveryRead:
    """Get a Delivery by id."""
    return await handlers.delivery.get_delivery(session, id)


@router.post(
    "/deliveries",
    operation_id="bookDelivery",
    summary="Create a Delivery",
    status_code=202,
    openapi_extra={"x-scopes": ["deliveries:create"]},
    response_model=DeliveryAccepted,
    responses={
        201: {"model": DeliveryRead, "description": "Created, its saga ended (asked with Prefer: wait)."}
    },
)
async def book_delivery(
    request: Request,
    session: SessionDep,
    payload: DeliveryCreate,
    idempotency: IdempotencyDep,
    prefer: Annotated[
        str | None,
        Header(
            alias="Prefer",
            max_length=1024,
            description="RFC 7240. `wait=N`: answer 201 with the Delivery once its saga has ended, if it ends within N seconds (at most the request deadline: 10 s by default); otherwise 202 as without it.",
        ),
    ] = None,
) -> Response:
    """Create a Delivery."""
    answer = await idempotency.run(
        "bookDelivery",
        payload,
        lambda: handlers.delivery.book_delivery(session, payload),
        status_code=202,
        location=lambda created: f"/v1/deliveries/{created.id}",
        body=lambda created: DeliveryAccepted(id=created.id, status_url=f"/v1/deliveries/{created.id}"),
    )
    # Prefer: wait=N: 201 with the Delivery once its saga has ended, if within N seconds
    return await settle(
        request,
        answer,
        prefer,
        entity=Delivery,
        read=DeliveryRead,
        log=StatusLog,
        final=frozenset(["CANCELLED", "SCHEDULED"]),
    )


@router.get(
    "/deliveries/{id}/events",
    operation_id="streamDeliveryEvents",
    summary="Follow a Delivery status as Server-Sent Events",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        204: {"description": "The client already received the final status."},
    },
)
async def stream_delivery_events(
    request: Request, id: UUID, last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None
) -> Response:
    """Every status of the Delivery after Last-Event-ID, in order, until CANCELLED or SCHEDULED."""
    sessions = request.app.state.database.sessions
    async with sessions() as session:  # not held while streaming
        await crud.get_or_404(session, Delivery, id)
    final = frozenset(["CANCELLED", "SCHEDULED"])
    return await status_stream(sessions, StatusLog, str(id), final=final, last_event_id=last_event_id)
