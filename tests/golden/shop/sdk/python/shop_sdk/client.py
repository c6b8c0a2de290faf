"""The shop SDK's entry point: a client for the generated calls, typed errors, and following.

Written by msgen 0.1.0 from the spec (kept by `msgen regen` with your edits merged).

    from shop_sdk import Sdk
    from shop_sdk.generated.api.order import place_order

    with Sdk("https://api.example.com", token=my_token_provider) as sdk:
        answer = sdk.call(place_order.sync_detailed, client=sdk.client, body=...)
        answer.correlation_id, answer.value
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, Self, TypeVar

import httpx
from httpx_sse import SSEError, connect_sse

from shop_sdk.generated.client import AuthenticatedClient
from shop_sdk.generated.models.problem import Problem
from shop_sdk.generated.types import Response
from shop_sdk.resilience import (
    CORRELATION_HEADER,
    AsyncResilientTransport,
    ResilientTransport,
    RetryPolicy,
    TokenProvider,
)

P = ParamSpec("P")
T = TypeVar("T")

# The statuses that end an asynchronous operation, by the path its status_url starts with.
FINAL_STATUSES: Mapping[str, frozenset[str]] = {
    "/v1/orders/": frozenset(
        {
            "CONFIRMED",
            "CANCELLED",
        }
    ),
}

# The entity field holding that status, by the same prefix.
STATUS_FIELDS: Mapping[str, str] = {
    "/v1/orders/": "status",
}
# RFC 7240's Prefer header for a create that starts a saga (its generated call's `prefer=`): the answer waits
# up to 10 s for the saga to end and is then 201 with the entity in its final status, in one request.
PREFER_WAIT = "wait=10"


class ProblemError(Exception):
    """An RFC 9457 problem+json answer (or any other 4xx/5xx), as an exception."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        type: str = "about:blank",  # noqa: A002 - the RFC's name
        detail: str | None = None,
        errors: list[Any] | None = None,
        correlation_id: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(f"{status} {title}" + (f": {detail}" if detail else ""))
        self.status = status
        self.title = title
        self.type = type
        self.detail = detail
        self.errors = errors or []
        self.correlation_id = correlation_id
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, status: int, headers: Mapping[str, str], content: bytes) -> ProblemError:
        body: Any = None
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        problem = body if isinstance(body, dict) else {}
        return cls(
            status,
            str(problem.get("title") or f"HTTP {status}"),
            type=str(problem.get("type") or "about:blank"),
            detail=str(problem["detail"]) if problem.get("detail") is not None else None,
            errors=list(problem.get("errors") or []),
            correlation_id=headers.get(CORRELATION_HEADER),
            retry_after=headers.get("Retry-After"),
        )


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A successful answer: its parsed body, status, correlation id and headers."""

    value: T
    status: int
    correlation_id: str | None
    headers: Mapping[str, str] = field(repr=False)


class Sdk:
    """One client of the API: pass `sdk.client` to the calls of `generated.api`, through `call` (or `acall`)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: TokenProvider | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=ResilientTransport(self.retry, token, transport),
        )
        self.async_http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=AsyncResilientTransport(self.retry, token)
        )
        self.client = AuthenticatedClient(base_url=base_url, token="")
        self.client.set_httpx_client(self.http)
        self.client.set_async_httpx_client(self.async_http)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    async def aclose(self) -> None:
        self.http.close()
        await self.async_http.aclose()

    def call(
        self, operation: Callable[P, Response[T | Problem]], *args: P.args, **kwargs: P.kwargs
    ) -> Answer[T]:
        """Run a generated `sync_detailed` call; a 4xx or 5xx answer raises ProblemError."""
        return self._answer(operation(*args, **kwargs))

    async def acall(
        self, operation: Callable[P, Awaitable[Response[T | Problem]]], *args: P.args, **kwargs: P.kwargs
    ) -> Answer[T]:
        """Run a generated `asyncio_detailed` call; a 4xx or 5xx answer raises ProblemError."""
        return self._answer(await operation(*args, **kwargs))

    @staticmethod
    def _answer(response: Response[T | Problem]) -> Answer[T]:
        if response.status_code >= 400 or isinstance(response.parsed, Problem):
            raise ProblemError.from_response(int(response.status_code), response.headers, response.content)
        return Answer(
            value=response.parsed,  # type: ignore[arg-type]  # not a Problem: any other answer is T
            status=int(response.status_code),
            correlation_id=response.headers.get(CORRELATION_HEADER),
            headers=response.headers,
        )

    def follow(
        self,
        status_url: str,
        *,
        timeout: float = 120.0,
        on_status: Callable[[str], None] | None = None,
        stream: bool = True,
    ) -> str:
        """Follow an accepted (202) operation to its final status: over Server-Sent Events, else by polling.

        Returns the final status; raises TimeoutError when none comes within `timeout` seconds.
        """
        final = next(
            (statuses for prefix, statuses in FINAL_STATUSES.items() if status_url.startswith(prefix)), None
        )
        if final is None:
            raise ValueError(f"{status_url!r} is not the status of an asynchronous operation")
        deadline = time.monotonic() + timeout
        if stream:
            status = self._follow_stream(status_url, final, deadline, on_status)
            if status is not None:
                return status
        return self._poll(status_url, final, deadline, on_status)

    def settle(
        self,
        answer: Answer[Any],
        *,
        timeout: float = 120.0,
        on_status: Callable[[str], None] | None = None,
        stream: bool = True,
    ) -> str:
        """The final status of an asynchronous create, from its answer.

        Placed with `prefer=PREFER_WAIT`, the create answers 201 with the entity once its saga has ended:
        its final status is read from that answer, one request in all. Otherwise (202: the saga had not
        ended within the wait, or the create was placed without the header) the operation is followed from
        its status_url as `follow` does: over Server-Sent Events, else by polling.
        """
        location = answer.headers.get("Location")
        if answer.status == 201 and location is not None:
            prefix = next((p for p in FINAL_STATUSES if location.startswith(p)), None)
            to_dict = getattr(answer.value, "to_dict", None)
            data: Any = to_dict() if callable(to_dict) else None
            if prefix is not None and isinstance(data, dict):
                status = str(data.get(STATUS_FIELDS.get(prefix, "status")))
                if status in FINAL_STATUSES[prefix]:
                    if on_status is not None:
                        on_status(status)
                    return status
            return self.follow(location, timeout=timeout, on_status=on_status, stream=stream)
        status_url = getattr(answer.value, "status_url", None) or location
        if not isinstance(status_url, str):
            raise ValueError(
                "the answer is not that of an asynchronous operation (no status_url, no Location)"
            )
        return self.follow(status_url, timeout=timeout, on_status=on_status, stream=stream)

    def _follow_stream(
        self, status_url: str, final: frozenset[str], deadline: float, on_status: Callable[[str], None] | None
    ) -> str | None:
        try:
            with connect_sse(
                self.http,
                "GET",
                f"{status_url.rstrip('/')}/events",
                timeout=httpx.Timeout(max(1.0, deadline - time.monotonic())),
            ) as source:
                if source.response.status_code != 200:
                    return None
                for event in source.iter_sse():
                    if event.event != "status":
                        continue
                    status = str(event.json().get("status"))
                    if on_status is not None:
                        on_status(status)
                    if status in final:
                        return status
        except (httpx.HTTPError, SSEError, ValueError):
            return None  # the stream broke or is not served: polling takes over
        return None

    def _poll(
        self, status_url: str, final: frozenset[str], deadline: float, on_status: Callable[[str], None] | None
    ) -> str:
        seen: str | None = None
        retry = 0
        while time.monotonic() < deadline:
            answer = self.http.get(status_url)
            if answer.status_code >= 400 and answer.status_code != 404:
                raise ProblemError.from_response(answer.status_code, answer.headers, answer.content)
            if answer.status_code == 200:
                status = str(answer.json().get("status"))
                if status != seen and on_status is not None:
                    on_status(status)
                seen = status
                if status in final:
                    return status
            time.sleep(min(self.retry.backoff(retry) + 0.1, max(0.0, deadline - time.monotonic())))
            retry = min(retry + 1, 5)
        raise TimeoutError(f"{status_url} reached no final status ({', '.join(sorted(final))})")
