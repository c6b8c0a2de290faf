"""Sending email from a service (notification handlers), over SMTP with aiosmtplib (the `smtp` extra)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage

from msgen_runtime.logs import personal

__all__ = ["MailSettings", "configure", "send"]
_log = logging.getLogger("msgen.mail")


@dataclass(frozen=True)
class MailSettings:
    host: str | None
    port: int = 25
    sender: str = "no-reply@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


_settings = MailSettings(host=None)


def configure(settings: MailSettings) -> None:
    global _settings
    _settings = settings


async def send(to: str, subject: str, body: str) -> bool:
    """Send one message; without SMTP_HOST it is only logged (local runs without a mail server)."""
    if not _settings.host:
        # The recipient is personal data: masked (j***@example.com) unless LOG_PERSONAL_DATA=true.
        _log.info(
            "email.not_sent", extra={"to": personal(to), "subject": personal(subject), "why": "SMTP_HOST is not set"}
        )
        return False
    import aiosmtplib  # msgen-runtime[smtp]: only services that send email install it

    message = EmailMessage()
    message["From"] = _settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    await aiosmtplib.send(
        message,
        hostname=_settings.host,
        port=_settings.port,
        username=_settings.username,
        password=_settings.password,
        start_tls=_settings.starttls,
        timeout=_settings.timeout,
    )
    _log.info("email.sent", extra={"to": personal(to), "subject": personal(subject)})
    return True
