"""Query parameters of list endpoints: limit (bounded) and offset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Query

__all__ = ["MAX_OFFSET", "PageParams", "page_params"]

MAX_OFFSET = 1_000_000_000


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def page_params(default: int = 50, maximum: int = 200) -> Callable[..., PageParams]:
    """A dependency giving validated paging parameters for one list endpoint."""

    def params(
        limit: int = Query(default, ge=1, le=maximum, description=f"Page size, at most {maximum}."),
        offset: int = Query(0, ge=0, le=MAX_OFFSET, description="How many items to skip."),
    ) -> PageParams:
        return PageParams(limit=limit, offset=offset)

    return params
