"""msgen up's console: a service's JSON log record as readable columns, any other line as it came."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

from rich.console import Console

from msgen import logformat
from msgen.up import RecordingPrinter
from msgen_runtime.logs import ServiceJsonFormatter

ARRIVED = datetime(2026, 12, 2, 9, 30, 0, 250000, tzinfo=UTC).astimezone()


def _record(event: str, level: int = logging.INFO, **extra: object) -> str:
    """A line exactly as a generated service writes it (msgen_runtime's formatter)."""
    record = logging.LogRecord("order.http", level, __file__, 1, event, None, None)
    record.created = datetime(2026, 12, 2, 9, 31, 5, 123000, tzinfo=UTC).timestamp()
    record.service = "order"
    record.correlation_id = "3f2a9c1e5b7d4e0f9a8b7c6d5e4f3a2b"
    record.trace_id = "0af7651916cd43dd8448eb211c80319c"
    for key, value in extra.items():
        setattr(record, key, value)
    return ServiceJsonFormatter().format(record)


def _plain(name: str, raw: str) -> str:
    return logformat.line(name, raw, ARRIVED).plain


def test_a_request_record_reads_as_columns() -> None:
    raw = _record("http.request", method="POST", path="/v1/orders", route="/v1/orders", status=202, duration_ms=12.44)
    text = _plain("order", raw)
    local = datetime(2026, 12, 2, 9, 31, 5, 123000, tzinfo=UTC).astimezone().strftime("%H:%M:%S")
    assert (
        text == f"{local}.123 order        INFO  http.request POST /v1/orders 202 12.4ms route=/v1/orders  cid=3f2a9c1e"
    )
    assert "{" not in text and "trace_id" not in text and "logger" not in text


def test_extra_fields_and_a_traceback_are_shown() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        raw = _record("outbox.publish_failed", logging.ERROR, retry_in=0.4, error="timeout", exc_info=sys.exc_info())
    text = _plain("payment", raw)
    first, *rest = text.splitlines()
    assert " payment      ERROR outbox.publish_failed retry_in=0.4 error=timeout  cid=3f2a9c1e" in first
    assert rest[0].strip() == "Traceback (most recent call last):"
    assert rest[-1].strip() == "ValueError: boom"


def test_other_lines_pass_through_unchanged() -> None:
    for raw in (
        "[2010] 2026/12/02 22:04:57.507613 [INF] Server is ready",
        '{"not": "a log record"}',
        "{broken json",
        "INFO:     Started server process [4242]",
    ):
        text = _plain("nats", raw)
        assert text == f"{ARRIVED.strftime('%H:%M:%S')}.250 nats         {raw}"


def test_control_characters_from_a_log_are_escaped() -> None:
    raw = _record("http.request", method="GET", path="/v1/x\x1b[2J\x1b]0;owned\x07", status=404, duration_ms=1)
    text = _plain("order", raw)
    assert "\x1b" not in text and "\x07" not in text
    assert "/v1/x\\x1b[2J\\x1b]0;owned\\x07" in text


def test_colour_only_for_a_terminal() -> None:
    raw = _record("service.started", version="1.0.0")
    message = type("Message", (), {"type": "line", "data": raw + "\n", "time": ARRIVED, "name": "order"})()

    def printed(console: Console) -> str:
        printer = RecordingPrinter(output=io.StringIO(), console=console, readable=True)
        printer.write(message)
        assert list(printer.last["order"]) == [raw]  # the raw line is what a failure report shows
        file = console.file
        assert isinstance(file, io.StringIO)
        return file.getvalue()

    piped = printed(Console(file=io.StringIO(), highlight=False, soft_wrap=True))
    assert "\x1b[" not in piped and "service.started version=1.0.0" in piped
    coloured = printed(Console(file=io.StringIO(), highlight=False, soft_wrap=True, force_terminal=True))
    assert "\x1b[" in coloured and "service.started" in coloured


def test_json_format_keeps_the_raw_line() -> None:
    raw = _record("service.started", version="1.0.0")
    message = type("Message", (), {"type": "line", "data": raw + "\n", "time": ARRIVED, "name": "order"})()
    output = io.StringIO()
    console = Console(file=io.StringIO())
    RecordingPrinter(output=output, console=console, readable=False).write(message)
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    prefix, _, line = output.getvalue().rstrip("\n").partition("| ")
    assert prefix.endswith("order ") and json.loads(line)["event"] == "service.started"
