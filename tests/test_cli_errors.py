"""The CLI's one error handler: one line on stderr, a distinct exit code, never a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msgen import schema as schema_module
from msgen.cli import app
from tests.processes import end_group, run

ROOT = Path(__file__).resolve().parent.parent
SHOP_SPEC = ROOT / "examples" / "shop.yaml"


def msgen(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, "-m", "msgen", *args],
        timeout=300,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_schema_into_a_missing_folder_is_an_environment_error() -> None:
    done = msgen("schema", "-o", "/nonexistent/x.json")
    assert one_line(done) == "error: /nonexistent/x.json: No such file or directory"
    assert done.returncode == 3


def test_graph_into_a_missing_folder_is_an_environment_error() -> None:
    done = msgen("graph", str(SHOP_SPEC), "-o", "/nonexistent/graph.mmd")
    assert one_line(done) == "error: /nonexistent/graph.mmd: No such file or directory"
    assert done.returncode == 3


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_new_into_proc_is_an_environment_error(tmp_path: Path) -> None:
    done = msgen("new", str(SHOP_SPEC), "-o", "/proc/x", cwd=tmp_path)
    assert one_line(done).startswith("error: /proc/")
    assert done.returncode == 3
    assert list(tmp_path.iterdir()) == []


def test_a_missing_spec_is_bad_input(tmp_path: Path) -> None:
    done = msgen("validate", "missing.yaml", cwd=tmp_path)
    assert one_line(done) == "error: missing.yaml: cannot read the spec: No such file or directory"
    assert done.returncode == 2


def _sigint_as_a_terminal_sends_it() -> None:
    # A suite started in the background of a script inherits SIGINT ignored, and Python then keeps it
    # ignored in the child: msgen would wait out its request's timeout instead of being interrupted.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_is_one_line_and_exit_code_130(tmp_path: Path) -> None:
    """A real SIGINT while msgen waits for a server that took its request and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        server.settimeout(120)
        process = subprocess.Popen(
            [sys.executable, "-m", "msgen", "dlq", f"http://127.0.0.1:{port}", "--token", "t" * 40],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_sigint_as_a_terminal_sends_it,
        )
        try:
            connection, _ = server.accept()
            with connection:
                connection.settimeout(120)
                request = b""
                while b"\r\n\r\n" not in request:  # the whole request: msgen now waits for the answer
                    chunk = connection.recv(4096)
                    assert chunk, process.communicate()
                    request += chunk
                process.send_signal(signal.SIGINT)
                _, stderr = process.communicate(timeout=60)
        finally:
            end_group(process, grace=0)
    assert stderr == "interrupted\n"
    assert process.returncode == 130


def test_an_unexpected_exception_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real bug can be produced on demand: one is planted in the command's library call."""

    def broken() -> str:
        raise RuntimeError("boom\x1b[2J")

    monkeypatch.setattr(schema_module, "spec_json_schema_text", broken)
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 70
    assert result.stdout == ""
    assert result.stderr.startswith("internal error: RuntimeError: boom\\x1b[2J; this is a bug in msgen ")
    assert result.stderr.rstrip().endswith("please report it with the command and the spec that caused it")
    assert result.stderr.count("\n") == 1


def test_usage_errors_stay_exit_code_2() -> None:
    result = CliRunner().invoke(app, ["graph", str(SHOP_SPEC), "--format", "gif"])
    assert result.exit_code == 2
    assert result.stderr == "error: unknown format 'gif': use mermaid, markdown, dot, svg or png\n"
    # msgen up refuses an unknown log format before it starts anything (no project is even looked at)
    result = CliRunner().invoke(app, ["up", "/nonexistent/project", "--log-format", "xml"])
    assert result.exit_code == 2
    assert result.stderr == "error: unknown log format 'xml': use human or json\n"
    result = CliRunner().invoke(app, ["up", "/nonexistent/project", "--ready-timeout", "0"])
    assert result.exit_code == 2 and "--ready-timeout" in result.stderr


@pytest.mark.parametrize(
    ("args", "line", "code"),
    [
        (["new", str(SHOP_SPEC), "--discard-edits"], "error: --discard-edits goes with --force", 2),
        (["graph", str(SHOP_SPEC), "--format", "png", "--saga", "checkout"], "error: --saga draws a Mermaid", 2),
        (["deploy", "/nonexistent/project"], "error: choose a target: --k8s (the only one so far)", 2),
        (["deploy", "/nonexistent/project", "--k8s", "--push"], "error: --push goes with --build", 2),
        (["up", "/nonexistent/project", "--smtp", "mail:25x"], "error: --smtp mail:25x: expected HOST or HOST:PORT", 1),
        (
            ["sdk", "/nonexistent/project", "--lang", "java"],
            "error: --lang java: expected one of typescript, python",
            1,
        ),
        (["regen", "/nonexistent/project"], "error: /nonexistent/project", 1),
        (["diff", "/nonexistent/project"], "error: /nonexistent/project", 1),
        (
            ["add-service", "x", "/nonexistent/project", "--template", "/nonexistent/t", "--entity", "X"],
            "error: --en",
            2,
        ),
    ],
)
def test_every_command_reports_through_the_one_handler(args: list[str], line: str, code: int) -> None:
    """A command raises; the handler prints one line on stderr, printable, and picks the exit code."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(line), result.stderr


def test_a_refused_value_is_shown_printable() -> None:
    """Values on the command line reach the message escaped: a terminal never plays them."""
    result = CliRunner().invoke(app, ["up", "/nonexistent/project", "--log-format", "x\x1b[2Jy"])
    assert result.exit_code == 2
    assert result.stderr == "error: unknown log format 'x\\x1b[2Jy': use human or json\n"
