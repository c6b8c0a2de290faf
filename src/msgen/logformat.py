"""The services' JSON log lines made readable for a person: `msgen up`'s console.

A generated service logs one JSON object a line (msgen_runtime.logs): level, service,
correlation_id, trace_id, event, logger, its extra fields, timestamp. `line()` turns one into

    12:04:31.532 order        INFO  http.request  POST /v1/orders 202 12.4ms  cid=3f2a9c1e

with rich styles (the service's own colour, the level's), and leaves any other line (a nats-server's,
a traceback printed before logging is set up) as it is, behind the same time and service columns.
Every value from a log is shown with its control characters escaped: a request path or a header
logged by a service cannot move the cursor or recolour the terminal.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from datetime import datetime
from typing import Any

from rich.text import Text

from msgen.errors import printable

# the fields every record has, shown in their own columns (or, for these, not at all)
_COLUMNS = frozenset({"level", "service", "correlation_id", "trace_id", "event", "logger", "timestamp"})
_HIDDEN = frozenset({"color_message", "taskName", "exc_info", "stack_info"})
# the extra fields worth reading first, in this order; the others follow as key=value
_LEADING = ("method", "path", "status", "duration_ms")
_LEVELS = {
    "DEBUG": "dim",
    "INFO": "green",
    "WARNING": "yellow",
    "ERROR": "bold red",
    "CRITICAL": "bold white on red",
}
_SHORT = {"WARNING": "WARN", "CRITICAL": "CRIT"}  # five characters at most: the column stays straight
_SERVICE_COLOURS = ("cyan", "magenta", "blue", "green", "yellow", "bright_cyan", "bright_magenta", "bright_blue")
NAME_WIDTH = 12
VALUE_LIMIT = 200  # characters of one extra field's value; a longer one is cut with an ellipsis


def service_style(name: str) -> str:
    """The colour of a process's name: the same for a name in every run (not its order of start)."""
    if name == "system":
        return "bold"
    return _SERVICE_COLOURS[zlib.crc32(name.encode()) % len(_SERVICE_COLOURS)]


def _clock(value: Any, fallback: datetime) -> str:
    """The record's time, local, to the millisecond; the time the line arrived when the record has none."""
    when = fallback
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(value).astimezone()
    return when.strftime("%H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = printable(text)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


def _extras(record: dict[str, Any]) -> Text:
    out = Text()
    if "method" in record and "path" in record:
        out.append(f" {_value(record['method'])} {_value(record['path'])}", style="bold")
        status = record.get("status")
        if status is not None:
            code = status if isinstance(status, int) else 0
            out.append(f" {_value(status)}", style="red" if code >= 500 else "yellow" if code >= 400 else "green")
        if isinstance(record.get("duration_ms"), int | float):
            out.append(f" {record['duration_ms']:.1f}ms", style="dim")
        shown = set(_LEADING)
    else:
        shown = set()
    for key, value in record.items():
        if key in _COLUMNS or key in _HIDDEN or key in shown or value is None:
            continue
        out.append(f" {printable(str(key))}=", style="dim")
        out.append(_value(value))
    return out


def parse(raw: str) -> dict[str, Any] | None:
    """The log record on a line, or None when the line is not one (not JSON, or JSON of another shape)."""
    text = raw.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or "event" not in record or "level" not in record:
        return None
    return record


def line(name: str, raw: str, arrived: datetime) -> Text:
    """One line of process `name`, readable: a log record laid out in columns, any other line unchanged."""
    record = parse(raw)
    out = Text(no_wrap=False)
    if record is None:
        out.append(_clock(None, arrived) + " ", style="dim")
        out.append(f"{name:<{NAME_WIDTH}}", style=service_style(name))
        out.append(" " + raw)
        return out
    level = str(record.get("level") or "").upper()
    out.append(_clock(record.get("timestamp"), arrived) + " ", style="dim")
    out.append(f"{name:<{NAME_WIDTH}}", style=service_style(name))
    out.append(f" {_SHORT.get(level, printable(level)[:5]):<5}", style=_LEVELS.get(level, ""))
    out.append(" " + _value(record.get("event") or ""), style="bold" if level in ("WARNING", "ERROR") else "")
    out.append_text(_extras(record))
    correlation = record.get("correlation_id")
    if correlation:
        out.append(f"  cid={_value(correlation)[:8]}", style="dim cyan")
    for key in ("exc_info", "stack_info"):  # a traceback: its own lines below, as Python printed it
        detail = record.get(key)
        if isinstance(detail, str) and detail:
            for row in detail.splitlines():
                out.append("\n" + " " * (13 + NAME_WIDTH) + printable(row), style="red" if key == "exc_info" else "")
    return out
