"""Build a service's FastAPI application: routers plus everything every service does.

Correlation ids, JSON logs, RED metrics, traces, problem+json errors, health,
the cache, the idempotency-key purge and graceful shutdown are wired here, once,
for every generated service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from msgen_runtime import callers, mail
from msgen_runtime.cache import make_cache
from msgen_runtime.db import Database
from msgen_runtime.health import health_router
from msgen_runtime.idempotency import IdempotencyKeyMixin, purge_expired
from msgen_runtime.logs import configure_logging
from msgen_runtime.metrics import metrics_endpoint
from msgen_runtime.middleware import CORRELATION_HEADER, Admission, ServiceMiddleware, valid_correlation_id
from msgen_runtime.problems import install_problem_handlers
from msgen_runtime.settings import ServiceSettings
from msgen_runtime.tracing import configure_tracing

if TYPE_CHECKING:  # messaging needs a broker extra of msgen-runtime: imported only by services with events
    from msgen_runtime.messaging.runtime import Messaging, MessagingConfig

__all__ = ["CORRELATION_HEADER", "create_service_app", "valid_correlation_id"]
_log = logging.getLogger("msgen.app")


def create_service_app(
    *,
    title: str,
    version: str,
    description: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    idempotency_model: type[IdempotencyKeyMixin] | None = None,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    span_exporter: SpanExporter | None = None,
    messaging: MessagingConfig | None = None,
) -> FastAPI:
    configure_logging(settings.service_name, settings.log_level, mask_personal_data=not settings.log_personal_data)
    database = Database(settings.database_url, echo=settings.database_echo, pool_size=settings.database_pool_size)
    mail.configure(
        mail.MailSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    )
    bus: Messaging | None = None
    if messaging is not None and settings.messaging_enabled:
        from msgen_runtime.messaging.runtime import Messaging

        bus = Messaging(
            messaging,
            service=settings.service_name,
            broker_url=settings.broker_url,
            database=database,
            registry_url=settings.schema_registry_url,
            attempts=settings.consumer_attempts,
            backoff=settings.consumer_backoff_seconds,
        )
    cache = make_cache(
        settings.service_name, settings.redis_url, settings.cache_namespace, enabled=settings.cache_enabled
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        purger = asyncio.create_task(_purge_forever(database, idempotency_model, settings.idempotency_purge_seconds))
        if bus is not None:
            await bus.start()
        _log.info("service.started", extra={"version": version})
        try:
            yield
        finally:
            if bus is not None:
                await bus.stop()
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            for close in on_shutdown:
                await close()
            await cache.close()
            await database.dispose()
            _log.info("service.stopped")

    if settings.dev_mode:  # said at every start: a production process must never run like this
        _log.warning("service.dev_mode_on", extra={"detail": "MSGEN_DEV_MODE=1: local development only, /docs on"})
    # Who may call: the internal credential on every API route; /docs and /openapi.json in dev mode only.
    secret, previous = callers.signing_keys(
        settings.internal_auth_secret.get_secret_value() if settings.internal_auth_secret else None,
        settings.internal_auth_secrets.get_secret_value() if settings.internal_auth_secrets else None,
    )
    signer, caller_check = callers.service_guard(
        secret,
        service=settings.service_name,
        dev_mode=settings.dev_mode,
        trusted=settings.internal_callers,
        previous=previous,
    )
    callers.configure(signer)
    docs = settings.dev_mode
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        separate_input_output_schemas=False,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    install_problem_handlers(app)
    # Inside the correlation id and the logs, so a shed request is counted and logged like any other.
    app.add_middleware(
        Admission,
        max_in_flight=settings.max_in_flight_requests,
        deadline=settings.request_timeout_seconds,
        max_streams=settings.max_event_streams,
    )
    # Correlation id, RED metrics and the access log, in one pure-ASGI layer.
    app.add_middleware(ServiceMiddleware, header_name=CORRELATION_HEADER)
    checks: dict[str, Callable[[], Awaitable[bool]]] = {"database": database.ping}
    if bus is not None:
        checks["broker"] = bus.ready
        admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
        app.include_router(bus.admin_router(admin_token))
    app.include_router(health_router(checks))
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in routers:
        app.include_router(router, dependencies=[caller_check])
    app.state.settings = settings
    app.state.database = database
    app.state.cache = cache
    app.state.messaging = bus
    configure_tracing(
        app,
        service=settings.service_name,
        sample_ratio=settings.trace_sample_ratio,
        engine=database.engines,
        exporter=span_exporter,
    )
    return app


async def _purge_forever(database: Database, model: type[IdempotencyKeyMixin] | None, every: float) -> None:
    if model is None:
        return
    while True:
        try:
            purged = await purge_expired(database.sessions, model)
            if purged:
                _log.info("idempotency.purged", extra={"keys": purged})
        except Exception:  # a missing table before migrations, a database restart: try again later
            _log.warning("idempotency.purge_failed", exc_info=True)
        await asyncio.sleep(every)
