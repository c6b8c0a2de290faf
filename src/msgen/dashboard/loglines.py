"""Log lines of the processes `msgen up` runs, parsed for the dashboard and made human-readable."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

from msgen.dashboard.store import LogLine

__all__ = ["parse"]

_KNOWN = ("level", "service", "correlation_id", "trace_id", "event", "logger", "timestamp", "color_message")


def _when(value: Any) -> float:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    return time.time()


# The nats-server's tags ([INF], [ERR]...) and the usual words, near the start of a plain line.
_PLAIN_LEVELS = re.compile(r"\[(DBG|TRC|INF|WRN|ERR|FTL)\]|\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b")
_LEVEL_NAMES = {"DBG": "DEBUG", "TRC": "DEBUG", "INF": "INFO", "WRN": "WARNING", "WARN": "WARNING", "ERR": "ERROR"}
_LEVEL_NAMES |= {"FTL": "CRITICAL", "FATAL": "CRITICAL"}


def _plain_level(line: str) -> str:
    found = _PLAIN_LEVELS.search(line[:80])
    if found is None:
        return "INFO"
    word = found.group(1) or found.group(2)
    return _LEVEL_NAMES.get(word, word)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    return json.dumps(value, default=str)


def parse(process: str, raw: str) -> LogLine | None:
    """One line of a process's output: the services' JSON lines become `event key=value ...`; others stay as they are."""
    line = raw.rstrip()
    if not line:
        return None
    data: Any = None
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except ValueError:
            data = None
    if not isinstance(data, dict):
        return LogLine(time.time(), process, _plain_level(line), None, None, line, {})
    extra = {k: v for k, v in data.items() if k not in _KNOWN}
    text = str(data.get("event") or "")
    exc = extra.pop("exc_info", None)
    parts = [text] + [f"{key}={_scalar(value)}" for key, value in extra.items()]
    if exc:
        parts.append("\n" + str(exc))
    return LogLine(
        at=_when(data.get("timestamp")),
        process=process,
        level=str(data.get("level") or "INFO").upper(),
        correlation_id=str(data["correlation_id"]) if data.get("correlation_id") else None,
        trace_id=str(data["trace_id"]) if data.get("trace_id") else None,
        text=" ".join(p for p in parts if p),
        fields=extra,
    )
