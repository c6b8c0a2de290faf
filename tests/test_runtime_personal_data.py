"""No personal data in logs by default: email addresses are masked, in the mailer's lines and in any record."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from msgen_runtime import mail
from msgen_runtime.logs import configure_logging, mask_email
from msgen_runtime.settings import ServiceSettings


@pytest.fixture(autouse=True)
def masking_back_on() -> Iterator[None]:
    yield
    configure_logging("test", "INFO")  # the default, whatever a test chose


def last_line(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return line


def test_mask_email_keeps_the_first_letter_and_the_domain() -> None:
    assert mask_email("john.doe@example.com") == "j***@example.com"
    assert mask_email("to a+b@mail.example.co.uk, c@d.org") == "to a***@mail.example.co.uk, c***@d.org"
    assert mask_email("no address @ here, nor x@y") == "no address @ here, nor x@y"


def test_emails_in_extra_fields_and_arguments_are_masked_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("people", "INFO")
    logging.getLogger("test").info(
        "welcome sent to %s",
        "jane.roe@example.org",
        extra={"customer": {"email": "john.doe@example.com", "id": 7}, "cc": ["ann@example.net"], "count": 2},
    )
    line = last_line(capsys)
    assert line["event"] == "welcome sent to j***@example.org"
    assert line["customer"] == {"email": "j***@example.com", "id": 7}
    assert line["cc"] == ["a***@example.net"] and line["count"] == 2
    text = json.dumps(line)
    assert "john.doe" not in text and "jane.roe" not in text and "ann@" not in text


def test_the_setting_turns_masking_off_for_local_debugging(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOG_PERSONAL_DATA", raising=False)
    assert ServiceSettings().log_personal_data is False
    monkeypatch.setenv("LOG_PERSONAL_DATA", "true")
    settings = ServiceSettings()
    configure_logging("people", "INFO", mask_personal_data=not settings.log_personal_data)
    logging.getLogger("test").info("signup", extra={"email": "john.doe@example.com"})
    assert last_line(capsys)["email"] == "john.doe@example.com"


def test_the_mailer_without_smtp_logs_a_masked_recipient(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("notification", "INFO")
    mail.configure(mail.MailSettings(host=None))
    sent = asyncio.run(mail.send("john.doe@example.com", "Your order for john.doe@example.com", "Thanks"))
    assert sent is False
    line = last_line(capsys)
    assert line["event"] == "email.not_sent"
    assert line["to"] == "j***@example.com" and line["subject"] == "Your order for j***@example.com"
    assert "john.doe" not in json.dumps(line)


def test_the_mailer_shows_the_recipient_when_masking_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("notification", "INFO", mask_personal_data=False)
    mail.configure(mail.MailSettings(host=None))
    asyncio.run(mail.send("john.doe@example.com", "Hello", "Thanks"))
    assert last_line(capsys)["to"] == "john.doe@example.com"


def test_masking_a_long_line_takes_linear_time() -> None:
    """A megabyte of address characters without a domain: scanned once, not once per position."""
    hostile = "a" * 1_000_000 + "@"
    started = time.monotonic()
    assert mask_email(hostile) == hostile
    assert mask_email("a." * 500_000 + "@x") == "a." * 500_000 + "@x"
    assert time.monotonic() - started < 20  # quadratic would take hours
