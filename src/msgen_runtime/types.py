"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field
from sqlalchemy.engine import Dialect

__all__ = ["INT64_MAX", "INT64_MIN", "Email", "UtcDateTime"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _email(value: str) -> str:
    """Syntax only: no DNS lookup; reserved domains (.test, .local, ...) pass, as tests and intranets use them."""
    try:
        return validate_email(value, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        if "special-use or reserved name" in str(exc):
            return value  # every syntax check ran before this one, which is about deliverability
        raise ValueError(f"not a valid email address: {exc}") from None


Email = Annotated[str, Field(max_length=320, json_schema_extra={"format": "email"}), AfterValidator(_email)]


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
