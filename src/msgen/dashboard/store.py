"""The dashboard's embedded store: spans and log lines in SQLite under the project's .msgen/.

Kept on disk, so the traces and logs of a run are still there after `msgen up` restarts. One
connection, shared by the server's threads behind a lock: the writes are small and local.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LogLine", "Span", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT, service TEXT NOT NULL, name TEXT NOT NULL,
    kind TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, error INTEGER NOT NULL,
    attributes TEXT NOT NULL, PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS ix_spans_start ON spans (start_ns);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, process TEXT NOT NULL, level TEXT NOT NULL,
    correlation_id TEXT, trace_id TEXT, text TEXT NOT NULL, fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_logs_cid ON logs (correlation_id);
CREATE INDEX IF NOT EXISTS ix_logs_trace ON logs (trace_id);
"""
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    error: bool
    attributes: dict[str, Any]


@dataclass(frozen=True)
class LogLine:
    at: float
    process: str
    level: str
    correlation_id: str | None
    trace_id: str | None
    text: str  # human-readable
    fields: dict[str, Any]


class Store:
    def __init__(self, path: Path, *, keep_logs: int = 200_000, keep_traces: int = 5_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.keep_logs = keep_logs
        self.keep_traces = keep_traces
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._writes = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, args)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    # -- writes -------------------------------------------------------------------

    def add_spans(self, spans: Iterable[Span]) -> int:
        rows = [
            (
                s.trace_id,
                s.span_id,
                s.parent_id,
                s.service,
                s.name,
                s.kind,
                s.start_ns,
                s.end_ns,
                int(s.error),
                json.dumps(s.attributes, default=str),
            )
            for s in spans
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO spans VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            self._db.execute("COMMIT")
        self._trim(len(rows))
        return len(rows)

    def add_logs(self, lines: Iterable[LogLine]) -> None:
        rows = [
            (
                line.at,
                line.process,
                line.level,
                line.correlation_id,
                line.trace_id,
                line.text,
                json.dumps(line.fields, default=str),
            )
            for line in lines
        ]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO logs (at, process, level, correlation_id, trace_id, text, fields) VALUES (?,?,?,?,?,?,?)",
                rows,
            )
            self._db.execute("COMMIT")
        self._trim(len(rows))

    def _trim(self, added: int) -> None:
        self._writes += added
        if self._writes < 5_000:
            return
        self._writes = 0
        with self._lock:
            self._db.execute("DELETE FROM logs WHERE id <= (SELECT MAX(id) FROM logs) - ?", (self.keep_logs,))
            self._db.execute(
                "DELETE FROM spans WHERE trace_id NOT IN "
                "(SELECT trace_id FROM spans GROUP BY trace_id ORDER BY MIN(start_ns) DESC LIMIT ?)",
                (self.keep_traces,),
            )

    # -- reads --------------------------------------------------------------------

    def logs(
        self,
        *,
        process: str | None = None,
        level: str | None = None,
        text: str | None = None,
        correlation_id: str | None = None,
        trace_id: str | None = None,
        limit: int = 500,
        after: int = 0,
    ) -> list[dict[str, Any]]:
        where: list[str] = ["id > ?"]
        args: list[Any] = [after]
        if process:
            where.append("process = ?")
            args.append(process)
        if level and level.upper() in LEVELS:
            at_least = LEVELS[LEVELS.index(level.upper()) :]
            where.append(f"level IN ({','.join('?' * len(at_least))})")
            args.extend(at_least)
        if text:
            where.append("instr(lower(text), lower(?)) > 0")
            args.append(text)
        if correlation_id:
            where.append("correlation_id = ?")
            args.append(correlation_id)
        if trace_id:
            where.append("trace_id = ?")
            args.append(trace_id)
        rows = self._query(
            f"SELECT id, at, process, level, correlation_id, trace_id, text FROM logs WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?",
            [*args, max(1, min(limit, 5000))],
        )
        return [dict(row) for row in reversed(rows)]

    def ids_mentioning(self, needle: str) -> tuple[str | None, str | None]:
        """The correlation id and trace id of the first log line that mentions `needle` and has them."""
        rows = self._query(
            "SELECT correlation_id, trace_id FROM logs WHERE instr(text, ?) > 0 AND correlation_id IS NOT NULL "
            "ORDER BY id LIMIT 1",
            [needle],
        )
        return (rows[0]["correlation_id"], rows[0]["trace_id"]) if rows else (None, None)

    def traces(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT trace_id, MIN(start_ns) AS start_ns, MAX(end_ns) AS end_ns, COUNT(*) AS spans, "
            "SUM(error) AS errors, GROUP_CONCAT(DISTINCT service) AS services, "
            "(SELECT name FROM spans AS root WHERE root.trace_id = spans.trace_id ORDER BY start_ns LIMIT 1) AS name "
            "FROM spans GROUP BY trace_id ORDER BY start_ns DESC LIMIT ?",
            [max(1, min(limit, 1000))],
        )
        return [dict(row) for row in rows]

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns", [trace_id])
        return [{**dict(row), "attributes": json.loads(row["attributes"]), "error": bool(row["error"])} for row in rows]

    def correlation_of(self, trace_id: str) -> str | None:
        rows = self._query(
            "SELECT correlation_id FROM logs WHERE trace_id = ? AND correlation_id IS NOT NULL LIMIT 1", [trace_id]
        )
        return rows[0]["correlation_id"] if rows else None


def now() -> float:
    return time.time()
