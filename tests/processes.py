"""The processes a test starts: each in a session of its own, the whole group ended with the test.

A timeout or a failure that killed only the direct child would leave its children running (a
generated suite's nats-server, a uvicorn worker): every helper here signals the process group.
Timeouts are generous and scaled by MSGEN_TEST_TIMEOUT_SCALE (a float, 1 by default) for slow
machines; on expiry the group is killed and the failure shows the tail of the output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import pytest

TAIL = 4000  # characters of output shown when a process fails or times out


def timeout_scale() -> float:
    """MSGEN_TEST_TIMEOUT_SCALE, a positive float (1 when unset)."""
    text = os.environ.get("MSGEN_TEST_TIMEOUT_SCALE", "").strip()
    if not text:
        return 1.0
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0
    if not scale > 0:
        raise pytest.UsageError(f"MSGEN_TEST_TIMEOUT_SCALE must be a positive number, not {text!r}")
    return scale


def scaled(seconds: float) -> float:
    """A bound in seconds, multiplied by MSGEN_TEST_TIMEOUT_SCALE."""
    return seconds * timeout_scale()


# For shops run as real processes by the tests: the spec's per-call timeouts (0.3 s for the order's
# product check) are made for a machine that is not shared; on a loaded test machine a reference check
# that times out opens the order service's breaker, and the test about sagas fails for its speed.
CALL_TIMEOUT_FLOOR = {"CALL_TIMEOUT_FLOOR_SECONDS": "15"}


def tail(text: str | bytes | None, size: int = TAIL) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return text if len(text) <= size else "[...]\n" + text[-size:]


def _leader_exited(process: subprocess.Popen[Any]) -> bool:
    """Whether the leader has exited, without reaping it: its pid (the group's id) stays taken meanwhile."""
    if process.returncode is not None:
        return True
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def end_group(process: subprocess.Popen[Any], grace: float = 10) -> None:
    """SIGTERM to the process's group; SIGKILL to what is left of it after `grace` seconds (or at once if 0).

    The leader is reaped last, so its id cannot be reused by another group while the group is signalled.
    """
    if grace > 0 and not _leader_exited(process):
        _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while not _leader_exited(process) and time.monotonic() < deadline:
            time.sleep(0.05)
    _signal_group(process, signal.SIGKILL)  # the leader if still there, and any child it left behind
    if process.returncode is None:
        process.kill()  # a leader that left its group
    process.wait()


def _signal_group(process: subprocess.Popen[Any], sig: signal.Signals) -> None:
    # Even once the leader is reaped: Linux keeps its id taken while a member of its group lives on.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _describe(args: Any) -> str:
    return " ".join(str(a) for a in args)


@contextmanager
def spawned(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = False,
    stdin: bool = False,
) -> Iterator[subprocess.Popen[str]]:
    """Start `args` in a session of its own, its output piped (text); kill what is left of its group on exit.

    For a test that reads the output as it comes or checks what the process left running before the
    group is ended; `communicate` waits for it with a scaled timeout.
    """
    process = subprocess.Popen(
        [str(a) for a in args],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        end_group(process, grace=0)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def communicate(process: subprocess.Popen[str], *, timeout: float, input: str | None = None) -> tuple[str, str]:
    """The process's stdout and stderr once it exits; after `timeout` seconds (scaled), its group is killed
    and the test fails with the tail of the output."""
    limit = scaled(timeout)
    try:
        out, err = process.communicate(input, timeout=limit)
    except subprocess.TimeoutExpired:
        end_group(process, grace=0)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a process that left the group still holds the pipes
            out, err = "", "(no output: a process outside the group still holds the pipes)"
        pytest.fail(
            f"{_describe(process.args)} did not finish within {limit:.0f}s"
            f" (MSGEN_TEST_TIMEOUT_SCALE={timeout_scale():g}); its process group was killed."
            f"\nstdout:\n{tail(out)}\nstderr:\n{tail(err)}",
            pytrace=False,
        )
    return out or "", err or ""


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `args` in a session of its own and capture its output (text).

    `timeout` is scaled by MSGEN_TEST_TIMEOUT_SCALE; on expiry the whole group is killed and the test
    fails with the tail of the output. Whatever happens, nothing of the group outlives the call.
    """
    with spawned(args, cwd=cwd, env=env, stdin=input is not None) as process:
        out, err = communicate(process, timeout=timeout, input=input)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def run_ok(
    args: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """`run`, failing the test with the tail of the output unless it exits 0; its stdout."""
    done = run(args, timeout=timeout, cwd=cwd, env=env)
    if done.returncode != 0:
        pytest.fail(
            f"{_describe(args)} exited {done.returncode}{f' in {cwd}' if cwd else ''}:\n"
            f"{tail(done.stdout)}\n{tail(done.stderr)}",
            pytrace=False,
        )
    return done.stdout


@contextmanager
def started(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    grace: float = 10,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `args` in a session of its own (output to `log`, else discarded); end its whole group on exit.

    On exit (normal, failure or timeout) the group gets SIGTERM, then SIGKILL after `grace` seconds.
    """
    out: IO[bytes] | int = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            [str(a) for a in args],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if not isinstance(out, int):
            out.close()
    try:
        yield process
    finally:
        end_group(process, grace)


def wait_for(condition: Any, *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `condition()` until it is true; fail after `timeout` seconds (scaled) saying `what` did not happen."""
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {limit:.0f}s (MSGEN_TEST_TIMEOUT_SCALE={timeout_scale():g})", pytrace=False)
        time.sleep(interval)
