"""The dashboard's web server: the page, its JSON API, and the OTLP/HTTP trace receiver.

It runs in a thread of `msgen up` (uvicorn on 127.0.0.1), sees every process's output through
honcho's printer, and asks the services what only they know (sagas, dead letters) through their
admin API with the project's admin token.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from msgen import model as m
from msgen.dashboard.collect import Collector, Target
from msgen.dashboard.loglines import parse
from msgen.dashboard.otlp import OtlpError, decode
from msgen.dashboard.store import Store

__all__ = ["Dashboard", "ExplorerRoute", "explorer_routes"]

STATIC = Path(str(resources.files("msgen.dashboard") / "static"))
GUARD_HEADER = "x-msgen-dashboard"  # a header a page on another site cannot send without the dashboard's consent (CORS)


@dataclass(frozen=True)
class ExplorerRoute:
    service: str
    method: str
    path: str
    summary: str
    scopes: tuple[str, ...]
    body: dict[str, Any] | None
    refs: bool  # its body refers to entities of other services: the example fills them in


def explorer_routes(system: m.System) -> list[ExplorerRoute]:
    """Each route of the gateway (every public operation), with an example body for writes."""
    from msgen.render.examples import example_payload, update_payload

    routes = []
    for service in system.services:
        for op in service.operations:
            body: dict[str, Any] | None = None
            refs = False
            if op.entity and op.method in ("POST", "PUT", "PATCH"):
                entity = op.entity
                if op.action == "create":
                    body = example_payload(entity, service)
                    refs = bool(list(m.entity_refs(entity, service.value_objects)))
                elif op.action == "update":
                    body = update_payload(entity, service)
            routes.append(ExplorerRoute(service.name, op.method, op.path, op.summary, tuple(op.scopes), body, refs))
    return routes


class Dashboard:
    """The dashboard of one `msgen up`: start() serves it, feed() takes the processes' output, stop() ends it."""

    def __init__(
        self,
        project: Path,
        system: m.System,
        targets: list[Target],
        *,
        store: Path,
        port: int,
        admin_token: str | None,
        processes: Any,
        gateway: str | None,
        interval: float = 2.0,
    ) -> None:
        self.project = project
        self.system = system
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.admin_token = admin_token
        self.gateway = gateway
        self.store = Store(store)
        self.collector = Collector(targets, processes, interval=interval)
        self.urls = {t.name: t.url for t in targets if t.url}
        self.routes = explorer_routes(system)
        self.orchestrators = sorted({s.orchestrator for s in system.sagas})
        self.consumers = [s.name for s in system.services if s.consumes]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._partial: dict[str, str] = {}

    # -- life ---------------------------------------------------------------------

    def otlp_env(self) -> dict[str, str]:
        """What makes a service export every span (100% sampled) to this dashboard, soon after it ends."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "500",
            "TRACE_SAMPLE_RATIO": "1.0",
        }

    def start(self) -> None:
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="dashboard", daemon=True)
        self._thread.start()
        self.collector.start()

    def wait_started(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server is not None and self._server.started:
                return True
            if self._thread is not None and not self._thread.is_alive():
                return False
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self.collector.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()

    def feed(self, process: str, data: str) -> None:
        """Output of a process (any chunk of lines, as honcho's printer receives it)."""
        text = self._partial.pop(process, "") + data
        lines = text.split("\n")
        if lines and lines[-1]:
            self._partial[process] = lines[-1]
        parsed = [parse(process, line) for line in lines[:-1]]
        self.store.add_logs(line for line in parsed if line is not None)

    # -- the app ------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/", self.index),
            Route("/api/services", self.services),
            Route("/api/logs", self.logs),
            Route("/api/traces", self.traces),
            Route("/api/traces/{trace_id}", self.trace),
            Route("/api/sagas", self.sagas),
            Route("/api/messaging", self.messaging),
            Route("/api/dead-letters/{service}/{ident}/replay", self.replay, methods=["POST"]),
            Route("/api/routes", self.list_routes),
            Route("/api/routes/{index:int}/example", self.example, methods=["POST"]),
            Route("/api/try", self.try_route, methods=["POST"]),
            Route("/api/graph", self.graph),
            Route("/v1/traces", self.receive_traces, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
        return Starlette(routes=routes)

    async def index(self, _request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @staticmethod
    def _problem(status: int, detail: str) -> JSONResponse:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Bad Request" if status == 400 else "Error",
                "status": status,
                "detail": detail,
            },
            status_code=status,
            media_type="application/problem+json",
        )

    @staticmethod
    def _guarded(request: Request) -> bool:
        return request.headers.get(GUARD_HEADER) == "1"

    async def _admin(self, method: str, service: str, path: str) -> httpx.Response | None:
        url = self.urls.get(service)
        if url is None:
            return None
        headers = {"Authorization": f"Bearer {self.admin_token}"} if self.admin_token else {}
        # An unsampled parent: the service's parent-based sampler records nothing of the dashboard's own polls.
        headers["traceparent"] = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                return await client.request(method, f"{url}{path}", headers=headers)
        except httpx.HTTPError:
            return None

    async def services(self, _request: Request) -> Response:
        self.collector.wanted()
        return JSONResponse(
            {"system": self.system.name, "gateway": self.gateway, "services": self.collector.services()}
        )

    async def logs(self, request: Request) -> Response:
        q = request.query_params
        try:
            limit, after = int(q.get("limit", "500")), int(q.get("after", "0"))
        except ValueError:
            return self._problem(400, "limit and after: integers")
        rows = await asyncio.to_thread(
            self.store.logs,
            process=q.get("process") or None,
            level=q.get("level") or None,
            text=q.get("q") or None,
            correlation_id=q.get("cid") or None,
            trace_id=q.get("trace") or None,
            limit=limit,
            after=after,
        )
        return JSONResponse(rows)

    async def traces(self, _request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(self.store.traces))

    async def trace(self, request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        spans = await asyncio.to_thread(self.store.trace, trace_id)
        if not spans:
            return self._problem(404, f"no trace {trace_id}")
        cid = await asyncio.to_thread(self.store.correlation_of, trace_id)
        return JSONResponse({"trace_id": trace_id, "correlation_id": cid, "spans": spans})

    async def sagas(self, _request: Request) -> Response:
        found: list[dict[str, Any]] = []
        for service in self.orchestrators:
            answer = await self._admin("GET", service, "/admin/sagas")
            if answer is None or answer.status_code != 200:
                continue
            for item in answer.json():
                cid, trace_id = await asyncio.to_thread(self.store.ids_mentioning, str(item.get("key")))
                found.append({**item, "service": service, "correlation_id": cid, "trace_id": trace_id})
        found.sort(key=lambda item: str(item.get("updated_at")), reverse=True)
        return JSONResponse(found)

    async def messaging(self, _request: Request) -> Response:
        self.collector.wanted()
        services = self.collector.services()
        names = {s.name for s in self.system.services}
        letters: list[dict[str, Any]] = []
        for service in self.consumers:
            answer = await self._admin("GET", service, "/admin/dead-letters")
            if answer is not None and answer.status_code == 200:
                letters += [{**letter, "service": service} for letter in answer.json()]
        rows = [
            {
                "name": s["name"],
                "outbox_pending": s["outbox_pending"],
                "lag": s["lag"],
                "dead_lettered": s["dead_lettered"],
            }
            for s in services
            if s["name"] in names
        ]
        return JSONResponse({"services": rows, "dead_letters": letters})

    async def replay(self, request: Request) -> Response:
        if not self._guarded(request):
            return self._problem(403, f"the dashboard's page sends {GUARD_HEADER}: 1")
        service, ident = request.path_params["service"], request.path_params["ident"]
        if service not in self.consumers:
            return self._problem(404, f"{service} consumes no events")
        try:
            uuid.UUID(ident)
        except ValueError:
            return self._problem(400, "a dead letter's id is a UUID")
        answer = await self._admin("POST", service, f"/admin/dead-letters/{ident}/replay")
        if answer is None:
            return self._problem(502, f"{service} did not answer")
        return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))

    async def list_routes(self, _request: Request) -> Response:
        return JSONResponse([{"index": i, **route.__dict__} for i, route in enumerate(self.routes)])

    def _token(self, scopes: tuple[str, ...] | list[str]) -> str | None:
        if self.gateway is None:
            return None
        from msgen_runtime.gateway.devtokens import mint

        return str(mint(self.project, scopes=list(scopes), sub="dashboard-user", ttl=600))

    async def example(self, request: Request) -> Response:
        """The route's example body, each ref pointing at an existing entity (listed, or created when none)."""
        index = request.path_params["index"]
        if not self._guarded(request):
            return self._problem(403, f"the dashboard's page sends {GUARD_HEADER}: 1")
        if not 0 <= index < len(self.routes):
            return self._problem(404, f"no route {index}")
        route = self.routes[index]
        if route.body is None or not route.refs or self.gateway is None:
            return JSONResponse(route.body)
        try:
            return JSONResponse(await asyncio.to_thread(self._filled, route))
        except Exception as exc:  # the services' answers, or none: told to the page, not a 500
            return self._problem(502, f"could not fill the example's references: {exc}")

    def _filled(self, route: ExplorerRoute) -> Any:
        import io

        from rich.console import Console

        from msgen.demo import DemoPlan, Front, demo_refs, fill_refs
        from msgen.localrun import ProcessSpec

        service = self.system.service(route.service)
        entity = next(op.entity for op in service.operations if op.path == route.path and op.entity)
        refs = demo_refs(service, entity)
        scenario = DemoPlan(route.service, "", entity.name, route.path, "", route.body or {}, route.scopes, "", refs)
        port = int((self.gateway or "").rsplit(":", 1)[1])
        # every request goes through the gateway, with a dev token: the services' own specs are not needed
        known = [ProcessSpec(name=n, args=[], cwd=self.project, env={}) for n in self.urls if n != "gateway"]
        gateway = ProcessSpec(name="gateway", args=[], cwd=self.project, env={}, port=port)
        front = Front([*known, gateway], lambda scopes: self._token(scopes) or "", scenario)
        with front.client:
            return fill_refs(front, Console(file=io.StringIO()), scenario)

    async def try_route(self, request: Request) -> Response:
        """Send one request through the gateway, with a dev token minted for the route's scopes."""
        if not self._guarded(request):
            return self._problem(403, f"the dashboard's page sends {GUARD_HEADER}: 1")
        if self.gateway is None:
            return self._problem(404, "this project has no gateway")
        try:
            data = await request.json()
            route = self.routes[int(data["index"])]
            path = str(data.get("path") or route.path)
            body = data.get("body")
        except (ValueError, KeyError, IndexError, TypeError):
            return self._problem(400, "expected {index, path, body}")
        if not path.startswith("/") or "{" in path or "//" in path:
            return self._problem(400, "fill the path's parameters: a path below the gateway, such as /v1/orders/ID")
        cid = f"dash-{uuid.uuid4().hex[:12]}"
        headers = {"X-Correlation-ID": cid}
        token = await asyncio.to_thread(self._token, route.scopes)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if route.method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        started = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.request(
                    route.method, f"{self.gateway}{path}", headers=headers, json=body if route.method != "GET" else None
                )
        except httpx.HTTPError as exc:
            return self._problem(502, f"the gateway did not answer: {exc}")
        try:
            shown: Any = answer.json()
        except ValueError:
            shown = answer.text
        return JSONResponse(
            {
                "status": answer.status_code,
                "headers": {k: v for k, v in answer.headers.items() if k.lower() not in ("set-cookie",)},
                "body": shown,
                "correlation_id": answer.headers.get("x-correlation-id", cid),
                "ms": round((time.monotonic() - started) * 1000, 1),
                "scopes": list(route.scopes),
            }
        )

    async def graph(self, _request: Request) -> Response:
        from msgen.graph import mermaid

        return PlainTextResponse(mermaid(self.system))

    async def receive_traces(self, request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:  # a service stopped while exporting (msgen up shutting down): nothing to keep
            return Response(status_code=400)
        content_type = request.headers.get("content-type", "application/x-protobuf")
        try:
            spans = decode(body, content_type)
        except OtlpError as exc:
            return self._problem(400, str(exc))
        # A root span of a database query or an outgoing call is background work (the outbox relay's polls,
        # readiness checks): not a trace anyone follows, and most of what 100% sampling sends.
        kept = [s for s in spans if s.parent_id or s.kind in ("SERVER", "CONSUMER", "PRODUCER")]
        if kept:
            await asyncio.to_thread(self.store.add_spans, kept)
        if "json" in content_type:
            return JSONResponse({"partialSuccess": {}})
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
