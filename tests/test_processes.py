"""tests/processes.py: a process a test starts ends with the test, children and grandchildren included."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.processes import run, run_ok, scaled, started, timeout_scale, wait_for

# The child starts a grandchild that ignores SIGTERM and outlives it, writes the grandchild's pid, and waits.
FAMILY = """
import subprocess, sys, time
grandchild = subprocess.Popen(
    [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
)
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(str(grandchild.pid))
import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
print("the child started", grandchild.pid, flush=True)
if sys.argv[2] == "wait":
    time.sleep(3600)
"""


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper is dead)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def _gone(pid: int) -> None:
    wait_for(lambda: not _alive(pid), timeout=30, what=f"process {pid} did not end")


def test_a_timeout_kills_the_grandchildren_and_shows_the_output(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # Longer bounds until the child had time to start its grandchild (a busy machine may need more).
    for limit in (2, 8, 30, 120):
        with pytest.raises(pytest.fail.Exception) as failed:
            run([sys.executable, "-c", FAMILY, pid_file, "wait"], timeout=limit)
        if pid_file.exists():
            break
    grandchild = int(pid_file.read_text())
    _gone(grandchild)
    message = str(failed.value)
    assert f"did not finish within {scaled(limit):.0f}s" in message and "process group was killed" in message
    assert f"the child started {grandchild}" in message  # the output's tail


def test_a_finished_run_leaves_no_child_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    out = run_ok([sys.executable, "-c", FAMILY, pid_file, "exit"], timeout=120)
    grandchild = int(pid_file.read_text())
    assert f"the child started {grandchild}" in out
    _gone(grandchild)


def test_a_failing_run_shows_its_output() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"(?s)exited 3.*boom"):
        run_ok([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], timeout=120)


def test_a_started_process_ends_with_its_group_on_failure(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    command = [sys.executable, "-c", FAMILY, pid_file, "wait"]
    with (
        pytest.raises(RuntimeError, match="the test failed"),
        started(command, log=tmp_path / "log", grace=1) as child,
    ):
        wait_for(pid_file.exists, timeout=60, what="the child did not start its grandchild")
        raise RuntimeError("the test failed")
    assert child.returncode is not None
    _gone(int(pid_file.read_text()))
    assert "the child started" in (tmp_path / "log").read_text()


def test_the_timeout_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MSGEN_TEST_TIMEOUT_SCALE", raising=False)
    assert timeout_scale() == 1 and scaled(300) == 300
    monkeypatch.setenv("MSGEN_TEST_TIMEOUT_SCALE", "2.5")
    assert scaled(300) == 750
    for wrong in ("0", "-1", "fast", "nan"):
        monkeypatch.setenv("MSGEN_TEST_TIMEOUT_SCALE", wrong)
        with pytest.raises(pytest.UsageError, match="MSGEN_TEST_TIMEOUT_SCALE"):
            timeout_scale()
