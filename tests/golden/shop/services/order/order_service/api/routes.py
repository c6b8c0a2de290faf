"""Routes of the order service: generated from the spec; the logic lives in handlers/."""

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

from order_service import handlers
from order_service.models import IdempotencyKey, Order, StatusLog
from order_service.schemas import OrderAccepted, OrderCreate, OrderPage, OrderRead

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]
IdempotencyDep = Annotated[Idempotency, Depends(idempotency_dependency(IdempotencyKey))]


@router.get(
    "/orders",
    operation_id="listOrders",
    summary="List Orders",
    status_code=200,
    openapi_extra={"x-scopes": ["orders:read"]},
)
async def list_orders(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> OrderPage:
    """List Orders."""
    return await handlers.order.list_orders(session, page)


@router.get(
    "/orders/{id}",
    operation_id="getOrder",
    summary="Get an Order by id",
    status_code=200,
    openapi_extra={"x-scopes": ["orders:read"]},
)
async def get_order(session: SessionDep, id: UUID) -> OrderRead:
    """Get an Order by id."""
    return await handlers.order.get_order(session, id)


@router.post(
    "/orders",
    operation_id="placeOrder",
    summary="Create an Order",
    status_code=202,
    openapi_extra={"x-scopes": ["orders:create"]},
    response_model=OrderAccepted,
    responses={
        201: {"model": OrderRead, "description": "Created, its saga ended (asked with Prefer: wait)."}
    },
)
async def place_order(
    request: Request,
    session: SessionDep,
    payload: OrderCreate,
    idempotency: IdempotencyDep,
    prefer: Annotated[
        str | None,
        Header(
            alias="Prefer",
            max_length=1024,
            description="RFC 7240. `wait=N`: answer 201 with the Order once its saga has ended, if it ends within N seconds (at most the request deadline: 10 s by default); otherwise 202 as without it.",
        ),
    ] = None,
) -> Response:
    """Create an Order."""
    answer = await idempotency.run(
        "placeOrder",
        payload,
        lambda: handlers.order.place_order(session, payload),
        status_code=202,
        location=lambda created: f"/v1/orders/{created.id}",
        body=lambda created: OrderAccepted(id=created.id, status_url=f"/v1/orders/{created.id}"),
    )
    # Prefer: wait=N: 201 with the Order once its saga has ended, if within N seconds
    return await settle(
        request,
        answer,
        prefer,
        entity=Order,
        read=OrderRead,
        log=StatusLog,
        final=frozenset(["CANCELLED", "CONFIRMED"]),
    )


@router.get(
    "/orders/{id}/events",
    operation_id="streamOrderEvents",
    summary="Follow an Order status as Server-Sent Events",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        204: {"description": "The client already received the final status."},
    },
)
async def stream_order_events(
    request: Request, id: UUID, last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None
) -> Response:
    """Every status of the Order after Last-Event-ID, in order, until CANCELLED or CONFIRMED."""
    sessions = request.app.state.database.sessions
    async with sessions() as session:  # not held while streaming
        await crud.get_or_404(session, Order, id)
    final = frozenset(["CANCELLED", "CONFIRMED"])
    return await status_stream(sessions, StatusLog, str(id), final=final, last_event_id=last_event_id)
