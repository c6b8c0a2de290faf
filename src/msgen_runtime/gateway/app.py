"""Build the gateway's ASGI application: authentication, scopes, rate limits and the reverse proxy.

A request goes through, in order: the correlation id (taken or created), the
metrics and access log, CORS, then the proxy endpoint: route lookup (404/405),
token verification, rate limit (429), scopes (401/403), body size (413), and
the upstream (503/504 when it cannot be reached). Every refusal is a
problem+json answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from asgi_correlation_id import correlation_id
from fastapi import FastAPI
from opentelemetry import propagate
from opentelemetry.sdk.trace.export import SpanExporter
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msgen_runtime.callers import ANONYMOUS, InsecureConfiguration, InternalAuth, signing_keys, user_subject
from msgen_runtime.callers import HEADER as INTERNAL_HEADER
from msgen_runtime.gateway.auth import AuthError, KeySource, LocalJwks, Principal, RemoteJwks, TokenVerifier
from msgen_runtime.gateway.devtokens import JWKS_FILE, ensure_keys
from msgen_runtime.gateway.proxy import HOP_BY_HOP, Upstream, relay
from msgen_runtime.gateway.ratelimit import THROTTLED, Decision, GatewayRateLimiter, rate_limit_item
from msgen_runtime.gateway.routing import Route, RouteTable
from msgen_runtime.gateway.settings import GatewaySettings
from msgen_runtime.health import health_router
from msgen_runtime.logs import configure_logging
from msgen_runtime.metrics import metrics_endpoint
from msgen_runtime.middleware import CORRELATION_HEADER, TIMEOUT_HEADER, Admission, ServiceMiddleware
from msgen_runtime.prefer import PREFER_HEADER, PREFERENCE_APPLIED, preferred_wait
from msgen_runtime.problems import Problem, install_problem_handlers, problem_response
from msgen_runtime.sse import ClientGone
from msgen_runtime.tracing import configure_tracing

__all__ = [
    "EXPOSED_HEADERS",
    "BodyFirst",
    "BodyTooLarge",
    "UpstreamReadiness",
    "build_verifier",
    "check_secure",
    "create_gateway_app",
]

_log = logging.getLogger("msgen.gateway")
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Replaced by the gateway: the client's word on these is not passed on as is.
_REQUEST_OWN = frozenset(
    {
        "host",
        "content-length",
        "x-correlation-id",
        "x-forwarded-for",
        "x-forwarded-proto",
        TIMEOUT_HEADER.lower(),
        INTERNAL_HEADER.lower(),
    }
)
EXPOSED_HEADERS = [
    CORRELATION_HEADER,
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "WWW-Authenticate",
    PREFERENCE_APPLIED,
]


class BodyTooLarge(Exception):
    pass


class BodyFirst:
    """Receives a request's whole body, within a time and a size bound, before the request counts as in flight.

    A client sending its body slowly, or never, holds no admission slot: it gets 408
    once `timeout` has passed without the whole body, 413 beyond `limit` bytes.
    """

    def __init__(self, app: ASGIApp, *, limit: int, timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        too_large = Problem(413, "Content Too Large", f"the request body exceeds {self.limit} bytes")
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        await problem_response(too_large, Request(scope))(scope, receive, send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            problem = Problem(408, "Request Timeout", f"the request body did not arrive within {self.timeout:g}s")
            problem.headers = {"Connection": "close"}
            await problem_response(problem, Request(scope))(scope, receive, send)
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # the disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class UpstreamReadiness:
    """Every upstream's /health/ready, checked together with a short timeout and cached briefly."""

    def __init__(
        self,
        upstreams: Mapping[str, Upstream],
        *,
        timeout: float,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstreams = upstreams
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.clock = clock  # of the cache: tests move it by hand
        self._state: dict[str, bool] = {}
        self._checked_at: float | None = None
        self._lock = asyncio.Lock()

    async def _probe(self, upstream: Upstream) -> bool:
        try:
            response = await upstream.http.get("/health/ready", timeout=self.timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def state(self) -> dict[str, bool]:
        async with self._lock:
            now = self.clock()
            if self._checked_at is None or now - self._checked_at >= self.cache_seconds:
                names = list(self.upstreams)
                results = await asyncio.gather(*(self._probe(self.upstreams[n]) for n in names))
                self._state = dict(zip(names, results, strict=True))
                self._checked_at = self.clock()
            return self._state

    def check(self, name: str) -> Callable[[], Awaitable[bool]]:
        async def ready() -> bool:
            return (await self.state())[name]

        return ready


def build_verifier(settings: GatewaySettings) -> TokenVerifier | None:
    """The trusted issuers: the OIDC issuer when configured, the dev issuer when enabled in dev mode; None: none."""
    issuers: dict[str, KeySource] = {}
    if settings.oidc_issuer:
        issuers[settings.oidc_issuer] = RemoteJwks(
            settings.oidc_jwks_url,
            issuer=settings.oidc_issuer,
            cache_seconds=settings.jwks_cache_seconds,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
            timeout=settings.jwks_fetch_timeout,
        )
    if settings.dev_issuer_enabled and settings.dev_mode:  # never outside dev mode (check_secure refuses it)
        if not settings.dev_issuer_dir:
            raise ValueError("DEV_ISSUER_ENABLED needs DEV_ISSUER_DIR")
        directory = Path(settings.dev_issuer_dir)
        ensure_keys(directory)
        issuers[settings.dev_issuer] = LocalJwks(directory / JWKS_FILE)
        _log.warning("gateway.dev_issuer_trusted", extra={"issuer": settings.dev_issuer, "keys": str(directory)})
    if not issuers:
        return None
    return TokenVerifier(issuers, audience=settings.oidc_audience, leeway=settings.token_leeway_seconds)


def check_secure(settings: GatewaySettings) -> InternalAuth | None:
    """Refuse settings that would open the system; the signer of the services' internal credential.

    Without MSGEN_DEV_MODE the gateway needs an OIDC issuer, the audience its tokens must name, its
    keys over https (plain http only with OIDC_ALLOW_HTTP=true, for an issuer inside the cluster),
    and the secret it shares with the services; the dev issuer is not trusted. In dev mode each may
    be missing, and the gateway says so loudly.
    """
    problems: list[str] = []
    if not settings.oidc_issuer and not (settings.dev_issuer_enabled and settings.dev_mode):
        problems.append("no token issuer: set OIDC_ISSUER (and OIDC_AUDIENCE)")
    if settings.dev_issuer_enabled and not settings.dev_mode:
        problems.append("DEV_ISSUER_ENABLED: the dev issuer is trusted in dev mode only (MSGEN_DEV_MODE=1)")
    if settings.oidc_issuer:
        keys = settings.oidc_jwks_url or settings.oidc_issuer  # the JWKS, or discovery from the issuer
        what = "OIDC_JWKS_URL" if settings.oidc_jwks_url else "OIDC_ISSUER (discovery)"
        if not keys.startswith(("https://", "http://")):
            problems.append(f"no JWKS for issuer {settings.oidc_issuer!r}: set OIDC_JWKS_URL (discovery needs a URL)")
        elif keys.startswith("http://") and not settings.oidc_allow_http:
            problems.append(
                f"{what} is plain http ({keys[:200]!r}): the signing keys need https "
                "(OIDC_ALLOW_HTTP=true for an issuer inside the cluster)"
            )
        if not settings.oidc_audience:
            problems.append("no OIDC_AUDIENCE: tokens the issuer made for other applications would be accepted")
    secret, previous = signing_keys(
        settings.internal_auth_secret.get_secret_value() if settings.internal_auth_secret else None,
        settings.internal_auth_secrets.get_secret_value() if settings.internal_auth_secrets else None,
    )
    if secret is None:
        problems.append("no INTERNAL_AUTH_SECRET: the services would refuse every forwarded call")
    if problems and not settings.dev_mode:
        message = "the gateway refuses to start: " + "; ".join(problems) + " (MSGEN_DEV_MODE=1 on a dev machine only)"
        _log.error("gateway.insecure_configuration", extra={"problems": problems})
        raise InsecureConfiguration(message)
    for problem in problems:
        _log.warning("gateway.dev_mode_insecure", extra={"detail": problem})
    return InternalAuth(secret, issuer=settings.service_name, previous=previous) if secret else None


async def _unless_client_leaves(opening: Awaitable[httpx.Response], receive: Receive) -> httpx.Response | None:
    """The upstream's answer; None when the client left first (the request to the upstream is then
    cancelled, its connection closed, which ends the upstream's own wait)."""
    task = asyncio.ensure_future(opening)

    def cancel() -> None:
        task.cancel()

    client = ClientGone(receive, cancel)
    client.start()
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if client.gone and (current is None or not current.cancelling()):
            return None
        raise
    finally:
        await client.stop()
        if not task.done():
            task.cancel()


def _www_authenticate(realm: str, error: AuthError | None) -> str:
    value = f'Bearer realm="{realm}"'
    if error is None:
        return value
    description = error.description.replace('"', "'")
    value += f', error="{error.error}", error_description="{description}"'
    if error.scope:
        value += f', scope="{" ".join(error.scope)}"'
    return value


def _bearer(request: Request) -> tuple[str | None, AuthError | None]:
    header = request.headers.get("authorization")
    if header is None:
        return None, None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, AuthError(401, "invalid_request", "the Authorization header is not 'Bearer <token>'")
    return token.strip(), None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_gateway_app(
    settings: GatewaySettings,
    routes: Sequence[Route],
    *,
    title: str = "gateway",
    version: str = "v1",
    span_exporter: SpanExporter | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    clock: Callable[[], float] = time.monotonic,  # the readiness cache's: tests move it by hand
) -> FastAPI:
    """The gateway for `routes`; upstream URLs come from `settings.<name>_url` (`transports` for tests)."""
    configure_logging(settings.service_name, settings.log_level)
    if settings.dev_mode:  # said at every start: a production gateway must never run like this
        _log.warning("gateway.dev_mode_on", extra={"detail": "MSGEN_DEV_MODE=1: local development only"})
    signer = check_secure(settings)  # before anything is opened: an insecure gateway does not start
    table = RouteTable(routes)
    transports = transports or {}
    upstreams = {
        name: Upstream(
            name,
            settings.upstream_url(name),
            retries=settings.upstream_retries,
            failure_threshold=settings.breaker_failure_threshold,
            recovery_timeout=settings.breaker_recovery_seconds,
            max_connections=settings.upstream_max_connections,
            idle_seconds=settings.upstream_idle_seconds,
            transport=transports.get(name),
        )
        for name in table.upstreams()
    }
    verifier = build_verifier(settings)
    if verifier is None:
        _log.warning("gateway.authentication_disabled", extra={"reason": "MSGEN_DEV_MODE=1 and no issuer"})
    limiter = GatewayRateLimiter(
        settings.rate_limit_requests,
        settings.rate_limit_period,
        strategy=settings.rate_limit_strategy,
        redis_url=settings.redis_url,
        namespace=settings.rate_limit_namespace or f"msgen:{settings.realm}:gateway",
    )
    readiness = UpstreamReadiness(
        upstreams, timeout=settings.ready_timeout, cache_seconds=settings.ready_cache_seconds, clock=clock
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _log.info("gateway.started", extra={"routes": len(table.routes), "upstreams": sorted(upstreams)})
        try:
            yield
        finally:
            for upstream in upstreams.values():
                await upstream.aclose()
            if verifier is not None:
                await verifier.aclose()
            await limiter.aclose()
            _log.info("gateway.stopped")

    app = FastAPI(title=title, version=version, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    install_problem_handlers(app)
    longest = max(
        ((route.timeout or settings.timeout) + route.max_wait for route in table.routes), default=settings.timeout
    )
    app.add_middleware(
        Admission,
        max_in_flight=settings.max_in_flight_requests,
        deadline=settings.request_deadline or longest + 2.0,
        max_streams=settings.max_event_streams,
    )
    # Outside Admission: a request is counted once its body is in, so slow senders hold no slot.
    app.add_middleware(BodyFirst, limit=settings.max_body, timeout=settings.body_timeout)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=list(settings.cors_methods),
        allow_headers=list(settings.cors_headers),
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
    app.add_middleware(ServiceMiddleware)  # correlation id, RED metrics and the access log, as in the services
    checks = {name: readiness.check(name) for name in upstreams} if settings.ready_checks_upstreams else {}
    app.include_router(health_router(checks))
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)

    def refuse(request: Request, problem: Problem, decision: Decision | None) -> Response:
        if decision is not None:
            problem.headers = {**decision.headers(), **problem.headers}
        return problem_response(problem, request)

    async def proxy(request: Request) -> Response:
        matched, allowed = table.match(request.method, request.url.path)
        if matched is None:
            if allowed:
                problem = Problem(405, "Method Not Allowed", f"{request.method} is not allowed here")
                problem.headers = {"Allow": ", ".join(allowed)}
                return problem_response(problem, request)
            return problem_response(Problem(404, "Not Found", "no such route"), request)
        route = matched.route
        request.scope["route"] = route  # the metrics' and the span's route: the template, never the raw path

        principal: Principal | None = None
        token, auth_error = _bearer(request)
        if token is not None and verifier is not None:
            try:
                principal = await verifier.verify(token)
            except AuthError as exc:
                auth_error = exc

        decision: Decision | None = None
        client_ip = request.client.host if request.client else "unknown"
        own = route.rate_limit
        if (own.by if own is not None else settings.rate_limit_by) == "token" and principal is not None:
            key = f"sub:{principal.issuer} {principal.subject}"
        else:
            key = f"ip:{client_ip}"
        if own is not None:  # the route's own limit, counted apart from the gateway's
            key = f"route:{route.method} {route.path} {key}"
            decision = await limiter.check(key, rate_limit_item(own.requests, own.period))
        else:
            decision = await limiter.check(key)
        if decision is not None and not decision.allowed:
            THROTTLED.labels(route.path).inc()
            problem = Problem(429, "Too Many Requests", f"rate limit of {decision.limit} requests exceeded")
            return refuse(request, problem, decision)

        if verifier is not None and route.scopes:
            if auth_error is not None and auth_error.status == 503:
                problem = Problem(503, "Service Unavailable", auth_error.description, headers={"Retry-After": "5"})
                return refuse(request, problem, decision)
            if principal is None:
                detail = auth_error.description if auth_error else "a bearer token is required"
                problem = Problem(401, "Unauthorized", detail)
                problem.headers = {"WWW-Authenticate": _www_authenticate(settings.realm, auth_error)}
                return refuse(request, problem, decision)
            missing = tuple(scope for scope in route.scopes if scope not in principal.scopes)
            if missing:
                error = AuthError(
                    403, "insufficient_scope", f"the token lacks {', '.join(missing)}", scope=route.scopes
                )
                problem = Problem(403, "Forbidden", error.description)
                problem.headers = {"WWW-Authenticate": _www_authenticate(settings.realm, error)}
                return refuse(request, problem, decision)

        try:
            body = await _read_body(request, settings.max_body)
        except BodyTooLarge:
            problem = Problem(413, "Content Too Large", f"the request body exceeds {settings.max_body} bytes")
            return refuse(request, problem, decision)

        headers = [
            (name, value)
            for name, value in request.headers.items()
            if name not in HOP_BY_HOP and name not in _REQUEST_OWN
        ]
        forwarded_for = request.headers.get("x-forwarded-for")
        headers.append(("X-Forwarded-For", f"{forwarded_for}, {client_ip}" if forwarded_for else client_ip))
        headers.append(("X-Forwarded-Proto", request.url.scheme))
        cid = correlation_id.get()
        if cid:
            headers.append((CORRELATION_HEADER, cid))
        if signer is not None and not route.prefix:
            # The service's proof that the call came through here, for this user, for it alone (`aud`).
            # A service made from a template (prefix route) is not ours: it gets no internal token.
            subject = user_subject(principal.subject) if principal else ANONYMOUS
            headers.append((INTERNAL_HEADER, signer.mint(subject, audience=route.upstream)))
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        headers.extend(carrier.items())
        target = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        if request.url.query:
            target += "?" + request.url.query

        upstream = upstreams[route.upstream]
        timeout = route.timeout or settings.timeout  # sent on as X-Request-Timeout-Ms: the time left at sending
        wait = min(route.max_wait, preferred_wait(request.headers.get(PREFER_HEADER)) or 0.0)
        timeout += wait  # Prefer: wait=N, on a create that may wait for its saga: wait as long for it
        try:
            opening = upstream.open(
                request.method,
                target,
                headers=headers,
                body=body,
                timeout=timeout,
                idempotent=route.idempotent_read,
                stream=route.sse,
            )
            if wait:  # a client leaving while the service waits for the saga ends that wait too
                response = await _unless_client_leaves(opening, request.receive)
                if response is None:
                    return Response(status_code=499)  # nobody reads it: the access log's word for it
            else:
                response = await opening
            out = await relay(response, stream=route.sse)
        except Problem as problem:
            return refuse(request, problem, decision)
        if decision is not None:
            out.headers.update(decision.headers())
        return out

    app.add_route("/{path:path}", proxy, methods=_METHODS, include_in_schema=False)
    app.state.settings = settings
    app.state.routes = table
    app.state.upstreams = upstreams
    app.state.verifier = verifier
    app.state.limiter = limiter
    provider = configure_tracing(
        app, service=settings.service_name, sample_ratio=settings.trace_sample_ratio, exporter=span_exporter
    )
    if provider is not None:  # untraced, the calls cost no instrumentation
        for upstream in upstreams.values():
            upstream.trace(provider)
    return app
