"""An older API version served beside the current one.

The routes of an older version (``api/routes_v1.py``, generated from its frozen
contract) validate the request with the old models, turn it into the current
version's body (the service's ``adapters/v1.py``), call the current route in
process, and turn its answer back into the old shape. So every rule of the
current route (idempotency keys, cache, commits, Location) applies to both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import Request, Response
from pydantic import BaseModel

__all__ = ["Adapt", "forward"]

Adapt = Callable[[dict[str, Any]], dict[str, Any]]
_HOP = {"host", "content-length", "transfer-encoding", "connection"}


async def forward(
    request: Request,
    path: str,
    *,
    body: BaseModel | None = None,
    adapt_request: Adapt | None = None,
    answer_model: type[BaseModel] | None = None,
    adapt_answer: Adapt | None = None,
) -> Response:
    """Serve `request` (an older version's) with the current route at `path`, in process.

    A success answer with a JSON body is adapted and validated as `answer_model`; any
    other answer (a problem, a 204) passes through as the current route gave it.
    """
    content: bytes | None = None
    if body is not None:
        payload = body.model_dump(mode="json", exclude_unset=True)
        content = json.dumps(adapt_request(payload) if adapt_request else payload).encode()
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as client:
        answer = await client.request(
            request.method, path, params=str(request.query_params), headers=headers, content=content
        )
    out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP | {"content-type"}}
    out_headers["Deprecation"] = "true"  # RFC 9745: clients should move to the current version
    if answer.is_success and answer_model is not None and answer.content:
        data = answer.json()
        shaped = answer_model.model_validate(adapt_answer(data) if adapt_answer else data)
        return Response(
            shaped.model_dump_json(), status_code=answer.status_code, headers=out_headers, media_type="application/json"
        )
    return Response(
        answer.content,
        status_code=answer.status_code,
        headers=out_headers,
        media_type=answer.headers.get("content-type"),
    )
