"""Structured JSON logs: one object a line, with the service, correlation id and trace id.

Every record passes a redaction filter first, so a token, password or
Authorization header never reaches the output, whatever the code logs. Then,
unless a developer turns it off for local debugging (``LOG_PERSONAL_DATA=true``),
the email addresses in a record's extra fields and arguments are masked
(``j***@example.com``): logs are kept and shipped far more widely than the data.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from asgi_correlation_id import correlation_id
from opentelemetry import trace
from pythonjsonlogger.json import JsonEncoder

__all__ = [
    "REDACTED",
    "ContextFilter",
    "PersonalDataFilter",
    "ServiceJsonFormatter",
    "StdoutHandler",
    "configure_logging",
    "current_trace_id",
    "is_secret",
    "mask_email",
    "mask_personal",
    "personal",
    "redact",
]

REDACTED = "[REDACTED]"
_SECRET_WORDS = ("authorization", "token", "password", "passwd", "secret", "cookie", "api_key", "apikey")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_SCALARS = frozenset({str, int, float, bool, type(None)})
# Not repeated as extra fields: the standard attributes and the ones the formatter names itself.
_SKIPPED = frozenset(_STANDARD | {"taskName", "service", "correlation_id", "trace_id"})
# An email address; the look-behind starts a match only where a run of address characters starts, so a
# long string without '@' is scanned once (linear), not once per position.
_EMAIL = re.compile(r"(?<![\w.%+-])([\w.%+-])[\w.%+-]*@((?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+)")
_masking = True  # configure_logging(mask_personal_data=False) turns it off, for local debugging only


def mask_email(address: str) -> str:
    """`john.doe@example.com` -> `j***@example.com`: enough to tell two recipients apart, not to write to one."""
    return _EMAIL.sub(r"\1***@\2", address)


def mask_personal(value: Any) -> Any:
    """A copy of `value` with every email address in its strings masked (in mappings, lists and tuples too)."""
    if isinstance(value, str):
        return mask_email(value) if "@" in value else value
    if isinstance(value, Mapping):
        return {k: mask_personal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_personal(v) for v in value]
    return value


def personal(value: str) -> str:
    """`value` as a log line may show it: masked, unless masking was turned off."""
    return mask_email(value) if _masking and "@" in value else value


@functools.lru_cache(maxsize=4096)
def is_secret(name: str) -> bool:
    """Whether a key names a secret (cached: the same few keys come back on every record)."""
    lowered = name.lower().replace("-", "_")
    return any(word in lowered for word in _SECRET_WORDS)


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-looking key's value replaced."""
    if isinstance(value, Mapping):
        return {k: REDACTED if is_secret(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class ContextFilter(logging.Filter):
    """Adds service, correlation_id and trace_id; redacts secrets in the record's extra fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id.get()
        record.trace_id = current_trace_id()
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD:
                continue
            if is_secret(key):
                setattr(record, key, REDACTED)
            elif type(value) not in _SCALARS and isinstance(value, Mapping | list | tuple):
                setattr(record, key, redact(value))
        return True


class PersonalDataFilter(logging.Filter):
    """Masks email addresses in a record's extra fields and in its arguments (not in the message's constant text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD or (type(value) in _SCALARS and not isinstance(value, str)):
                continue
            masked = mask_personal(value)
            if masked != value:
                setattr(record, key, masked)
        if isinstance(record.msg, dict):
            record.msg = mask_personal(record.msg)
        if isinstance(record.args, Mapping):
            record.args = mask_personal(record.args)
        elif record.args:
            record.args = tuple(mask_personal(arg) for arg in record.args)
        return True


class ServiceJsonFormatter(logging.Formatter):
    """One JSON object per record, in the services' log schema.

    The keys come in a fixed order: `level`, `service`, `correlation_id`, `trace_id`, `event` (the
    message), `logger`, then `exc_info`/`stack_info` when present, the record's extra fields, and
    `timestamp` (UTC, ISO 8601). Values JSON cannot hold are converted as python-json-logger does
    (its encoder is used), but the record is read directly: this runs once per request (the access
    log), and python-json-logger's generic field handling cost several times more.
    """

    def format(self, record: logging.LogRecord) -> str:
        extra: dict[str, Any] = {}
        if isinstance(record.msg, dict):
            extra.update(record.msg)
            message = ""
        else:
            message = record.getMessage()
        data: dict[str, Any] = {
            "level": record.levelname,
            "service": getattr(record, "service", None),
            "correlation_id": getattr(record, "correlation_id", None),
            "trace_id": getattr(record, "trace_id", None),
            "event": message,
            "logger": record.name,
        }
        if record.exc_info and not extra.get("exc_info"):
            extra["exc_info"] = self.formatException(record.exc_info)
        if not extra.get("exc_info") and record.exc_text:
            extra["exc_info"] = record.exc_text
        if record.stack_info and not extra.get("stack_info"):
            extra["stack_info"] = self.formatStack(record.stack_info)
        data.update(extra)
        for key, value in record.__dict__.items():
            if key not in _SKIPPED:
                data[key] = value
        data["timestamp"] = datetime.fromtimestamp(record.created, tz=UTC)
        return json.dumps(data, cls=JsonEncoder)


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time of the record (test captures included)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(service: str, level: str = "INFO", *, mask_personal_data: bool = True) -> None:
    """Send every log record of the process, uvicorn's included, to stdout as JSON.

    Email addresses are masked unless `mask_personal_data` is False (``LOG_PERSONAL_DATA=true``, local debugging).
    """
    global _masking
    _masking = mask_personal_data
    handler = StdoutHandler()
    handler.setFormatter(ServiceJsonFormatter())
    handler.addFilter(ContextFilter(service))
    if mask_personal_data:
        handler.addFilter(PersonalDataFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # The access log is ours (msgen_runtime.metrics); uvicorn's would repeat it unstructured.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
